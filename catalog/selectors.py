import datetime
from collections.abc import Iterable, Iterator

from django.conf import settings
from django.db import models
from django.db.models import F, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from catalog.models import Category, Inbound, Product


def with_inbound_supply(products: QuerySet[Product]) -> QuerySet[Product]:
    """Products with Product.inbound_supply read in the same query."""
    confirmed = (
        Inbound.objects.confirmed()
        .filter(product=OuterRef("pk"))
        .order_by()
        .values("product")
        .annotate(units=Sum("quantity"))
        .values("units")
    )
    return products.annotate(inbound_supply=Coalesce(Subquery(confirmed), 0))


class CatalogSort(models.TextChoices):
    NAME = "name", "Name"
    PRICE = "price", "Price, low to high"
    PRICE_DESC = "-price", "Price, high to low"
    NEWEST = "newest", "Newest"


_SORT_ORDER = {
    CatalogSort.NAME: ("name", "pk"),
    CatalogSort.PRICE: ("price", "name", "pk"),
    CatalogSort.PRICE_DESC: ("-price", "name", "pk"),
    CatalogSort.NEWEST: ("-created_at", "-pk"),
}


def product_list(
    *,
    query: str = "",
    category_slug: str = "",
    sort: str = CatalogSort.NAME,
    in_stock_only: bool = False,
) -> QuerySet[Product]:
    products = with_inbound_supply(Product.objects.select_related("category"))
    if query:
        products = products.filter(
            Q(name__icontains=query) | Q(sku__iexact=query) | Q(description__icontains=query)
        )
    if category_slug:
        products = products.filter(category__slug=category_slug)
    if in_stock_only:
        # Free units: available and not owed to the queue (PurchasePolicy.free > 0).
        products = products.filter(on_hand__gt=F("allocated") + F("backordered"))
    return products.order_by(*_SORT_ORDER.get(sort, _SORT_ORDER[CatalogSort.NAME]))


def in_stock_alternatives(*, product_ids: Iterable[int]) -> dict[int, list[Product]]:
    """{product id: its alternatives with units free for a new order now}, one query."""
    links = Product.alternatives.through.objects.filter(
        from_product_id__in=list(product_ids),
        to_product__on_hand__gt=F("to_product__allocated") + F("to_product__backordered"),
    ).select_related("to_product")
    suggestions: dict[int, list[Product]] = {}
    for link in links.order_by("to_product__name", "to_product_id"):
        suggestions.setdefault(link.from_product_id, []).append(link.to_product)
    return suggestions


def category_list() -> QuerySet[Category]:
    return Category.objects.all()


def backorder_eta(*, product: Product, quantity: int) -> datetime.date | None:
    """When the back-ordered part of buying `quantity` now would be in: after every unit
    already waiting, and after the units this purchase takes from stock."""
    return inbound_eta(product=product, units=product.backordered + quantity)


def promise_date(eta: datetime.date | None) -> datetime.date:
    """The ship-by date the store may promise today for back-ordered units with this
    ETA: the inbound's date plus handling, or, with no confirmed date, the default
    window (the FTC rule's 30 days)."""
    if eta is None:
        return timezone.localdate() + datetime.timedelta(days=settings.DEFAULT_SHIP_WITHIN_DAYS)
    return eta + datetime.timedelta(days=settings.HANDLING_DAYS)


def inbound_eta(*, product: Product, units: int) -> datetime.date | None:
    """When `units` more units than are allocated today will be in the warehouse: the
    expected date of the confirmed inbound whose arrival, added to what is available
    now, first covers them. No such inbound: None, never a guess."""
    inbounds = product.inbounds.confirmed().values_list("quantity", "expected_date")
    return next(supply_dates(available=product.available, inbounds=inbounds, needs=[units]))


def supply_dates(
    *,
    available: int,
    inbounds: Iterable[tuple[int, datetime.date]],
    needs: Iterable[int],
) -> Iterator[datetime.date | None]:
    """For each running total of units needed (ascending, as a queue is walked), the
    date supply covers it: today for what is available now, else the expected date of
    the inbound (quantity, date, in date order) that first covers it, else None.
    One pass over both, however long the queue."""
    inbounds = iter(inbounds)
    covered, date = max(available, 0), timezone.localdate()
    for needed in needs:
        while covered < needed and (inbound := next(inbounds, None)) is not None:
            covered += inbound[0]
            date = inbound[1]
        yield date if covered >= needed else None
