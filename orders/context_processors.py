from orders.cart import Cart, max_line_quantity


def cart_summary(request) -> dict:
    facts = {"max_line_quantity": max_line_quantity()}
    if hasattr(request, "session"):
        facts["cart_units"] = len(Cart(request.session))
    return facts
