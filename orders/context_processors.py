from orders.cart import Cart


def cart_summary(request) -> dict:
    return {"cart_units": len(Cart(request.session))} if hasattr(request, "session") else {}
