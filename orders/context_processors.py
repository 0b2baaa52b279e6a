from django.utils.html import format_html

from orders.cart import Cart, max_line_quantity


def cart_summary(request) -> dict:
    """The header's cart badge (a variable of its own, so a cached page can leave it
    to each request: core.pages) and the largest quantity a line may hold."""
    facts = {"max_line_quantity": max_line_quantity()}
    if hasattr(request, "session"):
        units = len(Cart(request.session))
        facts["cart_badge"] = (
            format_html(' <span class="badge" aria-label="{} items">{}</span>', units, units)
            if units
            else ""
        )
    return facts
