import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from catalog.models import Category, Product


def product_list(*, query: str = "", category_slug: str = "") -> QuerySet[Product]:
    products = Product.objects.select_related("category")
    if query:
        products = products.filter(
            Q(name__icontains=query) | Q(sku__iexact=query) | Q(description__icontains=query)
        )
    if category_slug:
        products = products.filter(category__slug=category_slug)
    return products


def category_list() -> QuerySet[Category]:
    return Category.objects.all()


def backorder_eta(*, product: Product, quantity: int) -> datetime.date | None:
    """When the back-ordered part of buying `quantity` now would be in: after every unit
    already waiting, and after the units this purchase takes from stock."""
    return inbound_eta(product=product, units=product.backordered + quantity)


def inbound_eta(*, product: Product, units: int) -> datetime.date | None:
    """When `units` more units than are allocated today will be in the warehouse.

    That is the expected date of the open inbound whose arrival, added to what is
    available now, first covers them. No such inbound: None, never a guess. An inbound
    already past its expected date promises nothing until it is re-dated.
    """
    today = timezone.localdate()
    covered = max(product.available, 0)
    if covered >= units:
        return today
    open_inbounds = product.inbounds.filter(received_at=None, expected_date__gte=today)
    for quantity, expected_date in open_inbounds.values_list("quantity", "expected_date"):
        covered += quantity
        if covered >= units:
            return expected_date
    return None
