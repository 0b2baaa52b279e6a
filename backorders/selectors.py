import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import (
    Count,
    DecimalField,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    Window,
)
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from catalog.models import Product, StockMovement
from catalog.selectors import with_inbound_supply
from notifications.selectors import emails_overdue_count
from orders.models import ORDER_NUMBER_OFFSET, QUEUE_ORDER, DelayNotice, Order, OrderLine
from orders.selectors import payment_problems

# Far beyond the sweep's minute and the longest retry delay: only a stopped beat or
# broken delivery leaves an email this late.
EMAIL_OVERDUE = datetime.timedelta(hours=2)


def products_needing_allocation() -> list[int]:
    """Products with available stock and waiting back-orders: work a lost task left."""
    return list(
        Product.objects.filter(backordered__gt=0, on_hand__gt=F("allocated"))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def inventory_problems() -> list[str]:
    """Every broken invariant of BRIEF.md that the data can show, one message each."""
    problems = []
    for product in Product.objects.filter(Q(allocated__lt=0) | Q(allocated__gt=F("on_hand"))):
        problems.append(
            f"invariant 1 (0 ≤ allocated ≤ on hand): {product.sku} has on hand "
            f"{product.on_hand}, allocated {product.allocated}"
        )
    unbalanced = OrderLine.objects.exclude(
        quantity=F("allocated") + F("backordered") + F("shipped") + F("cancelled")
    ).select_related("product")
    for line in unbalanced:
        problems.append(
            f"invariant 2 (ordered = allocated + back-ordered + shipped + cancelled): line "
            f"{line.pk} of {line.product.sku} has {line.quantity} ≠ {line.allocated} + "
            f"{line.backordered} + {line.shipped} + {line.cancelled}"
        )
    ledger = StockMovement.objects.filter(product=OuterRef("pk")).values("product")
    products = Product.objects.annotate(
        ledger_on_hand=Coalesce(Subquery(ledger.annotate(s=Sum("on_hand_delta")).values("s")), 0),
        ledger_allocated=Coalesce(
            Subquery(ledger.annotate(s=Sum("allocated_delta")).values("s")), 0
        ),
        lines_waiting=Coalesce(
            Subquery(
                OrderLine.objects.filter(product=OuterRef("pk"))
                .values("product")
                .annotate(s=Sum("backordered"))
                .values("s")
            ),
            0,
        ),
    )
    for product in products.exclude(
        on_hand=F("ledger_on_hand"), allocated=F("ledger_allocated"), backordered=F("lines_waiting")
    ):
        problems.append(
            f"invariant 3 (counters equal the ledger): {product.sku} has on hand "
            f"{product.on_hand} (ledger {product.ledger_on_hand}), allocated "
            f"{product.allocated} (ledger {product.ledger_allocated}), waiting "
            f"{product.backordered} (lines {product.lines_waiting})"
        )
    # A line behind a still-waiting one that has been served from the queue was served
    # out of turn. Lines staff have reprioritised are left out: that is staff's call.
    served_behind = OrderLine.objects.filter(
        product=OuterRef("product"),
        queued_units__gt=F("backordered") + F("cancelled"),
        reprioritized_at=None,
    ).filter(
        Q(priority__lt=OuterRef("priority"))
        | Q(priority=OuterRef("priority"), queued_at__gt=OuterRef("queued_at"))
        | Q(priority=OuterRef("priority"), queued_at=OuterRef("queued_at"), pk__gt=OuterRef("pk"))
    )
    passed_over = OrderLine.objects.filter(backordered__gt=0, reprioritized_at=None).filter(
        Exists(served_behind)
    )
    for line in passed_over.select_related("product"):
        problems.append(
            f"invariant 4 (FIFO): line {line.pk} of {line.product.sku} still waits while a "
            "later back-order of the same product was served"
        )
    # The FTC rule: a back-order still waiting after its promise must have been told of
    # the delay before the promise passed.
    noticed_in_time = DelayNotice.objects.filter(
        line=OuterRef("pk"),
        promised_by=OuterRef("promised_by"),
        created_at__date__lte=OuterRef("promised_by"),
    )
    unannounced = OrderLine.objects.filter(
        backordered__gt=0, promised_by__lt=timezone.localdate()
    ).exclude(Exists(noticed_in_time))
    for line in unannounced.select_related("product", "order"):
        problems.append(
            f"promise kept or renegotiated: order {line.order.number} waits for "
            f"{line.backordered} × {line.product.sku} past its promise of {line.promised_by} "
            "with no delay notice sent before it; is beat running? (see docs/operations.md)"
        )
    problems += payment_problems()
    overdue = emails_overdue_count(by=EMAIL_OVERDUE)
    if overdue:
        problems.append(
            f"invariant 5 (no email lost): {overdue} email(s) overdue by more than "
            f"{EMAIL_OVERDUE}; is beat running? (see docs/operations.md)"
        )
    return problems


# The dashboard's age buckets in days waited, as the queue's age filter offers them.
AGE_BUCKETS = {"0-7": (0, 7), "8-14": (8, 14), "15-30": (15, 30), "31+": (31, None)}
DASHBOARD_ROWS = 10  # products and delay notices listed; the totals count them all


@dataclass(frozen=True)
class ProductWaiting:
    product_id: int
    sku: str
    name: str
    units: int
    value: Decimal


@dataclass(frozen=True)
class AgeBucket:
    key: str
    label: str
    lines: int
    units: int


@dataclass(frozen=True)
class ServiceLevel:
    """Over the last `days`: the share of ordered units filled from stock at checkout,
    and the median wait of the back-orders the queue served in full."""

    days: int
    units_ordered: int
    fill_rate: float | None
    backorders_served: int
    median_wait: datetime.timedelta | None

    @property
    def fill_rate_percent(self) -> float | None:
        return None if self.fill_rate is None else 100 * self.fill_rate

    @property
    def median_wait_days(self) -> float | None:
        return None if self.median_wait is None else self.median_wait / datetime.timedelta(days=1)


@dataclass(frozen=True)
class Shortfall:
    """Waiting units that neither stock nor a confirmed inbound will cover: what
    purchasing should order."""

    product_id: int
    sku: str
    name: str
    waiting: int
    inbound: int
    to_order: int


@dataclass(frozen=True)
class Dashboard:
    units_waiting: int
    value_waiting: Decimal
    orders_waiting: int
    products_waiting: int
    by_product: list[ProductWaiting]
    ages: list[AgeBucket]
    service_levels: list[ServiceLevel]
    orders_ready_to_ship: int
    shortfalls: list[Shortfall]
    shortfall_products: int
    delays_open: int
    delays_oldest: list[DelayNotice]


def age_bucket_label(key: str) -> str:
    low, high = AGE_BUCKETS[key]
    return f"{low}–{high} days" if high else f"over {low - 1} days"


def age_bucket_filter(key: str) -> Q:
    """Back-orders that have waited the bucket's number of calendar days, as the queue
    shows them: queued on a day `days` ago means from that day's start to the next's."""
    low, high = AGE_BUCKETS[key]
    today = timezone.localdate()

    def day_start(days_ago: int) -> datetime.datetime:
        day = today - datetime.timedelta(days=days_ago)
        return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))

    waited = Q(queued_at__lt=day_start(low - 1))
    if high is not None:
        waited &= Q(queued_at__gte=day_start(high))
    return waited


def dashboard(*, service_days: Iterable[int] = (30, 90)) -> Dashboard:
    """The staff landing page's figures, in a number of queries that does not grow with
    the data: each figure is one aggregate, each list a bounded one."""
    # One pass over the waiting lines for what only they know (value, orders, ages);
    # units by product from the products' counters, which equal them (check_inventory).
    waiting = OrderLine.objects.filter(backordered__gt=0).order_by()
    value = Sum(F("backordered") * (F("unit_price") - F("backorder_unit_discount")))
    lines = waiting.aggregate(
        value=Coalesce(value, Decimal("0.00"), output_field=DecimalField()),
        orders=Count("order_id", distinct=True),
        **{
            f"{key}_{figure}": Coalesce(Sum(measure, filter=age_bucket_filter(key)), 0)
            for key in AGE_BUCKETS
            for figure, measure in (("lines", Value(1)), ("units", F("backordered")))
        },
    )
    products_waiting = Product.objects.filter(backordered__gt=0)
    products = products_waiting.aggregate(units=Coalesce(Sum("backordered"), 0), count=Count("pk"))
    most_waiting = list(
        products_waiting.order_by("-backordered", "pk").values_list(
            "pk", "sku", "name", "backordered"
        )[:DASHBOARD_ROWS]
    )
    values = dict(
        waiting.filter(product_id__in=[row[0] for row in most_waiting])
        .values("product_id")
        .annotate(value=value)
        .values_list("product_id", "value")
    )
    shortfall = ExpressionWrapper(
        F("backordered") - Greatest(F("on_hand") - F("allocated"), 0) - F("inbound_supply"),
        output_field=IntegerField(),
    )
    short = (
        with_inbound_supply(Product.objects.filter(backordered__gt=0))
        .annotate(to_order=shortfall)
        .filter(to_order__gt=0)
    )
    open_delays = DelayNotice.objects.filter(outcome=DelayNotice.Outcome.OPEN)
    return Dashboard(
        units_waiting=products["units"],
        value_waiting=lines["value"],
        orders_waiting=lines["orders"],
        products_waiting=products["count"],
        by_product=[
            ProductWaiting(product_id=pk, sku=sku, name=name, units=units, value=values[pk])
            for pk, sku, name, units in most_waiting
        ],
        ages=[
            AgeBucket(
                key=key,
                label=age_bucket_label(key),
                lines=lines[f"{key}_lines"],
                units=lines[f"{key}_units"],
            )
            for key in AGE_BUCKETS
        ],
        service_levels=service_levels(days=service_days),
        orders_ready_to_ship=Order.objects.ready_to_ship().count(),
        shortfalls=[
            Shortfall(
                product_id=product.pk,
                sku=product.sku,
                name=product.name,
                waiting=product.backordered,
                inbound=product.inbound_supply,
                to_order=product.to_order,
            )
            for product in short.order_by("-to_order", "pk")[:DASHBOARD_ROWS]
        ],
        shortfall_products=short.count(),
        delays_open=open_delays.count(),
        delays_oldest=list(
            open_delays.select_related("line__order", "line__product").order_by("answer_by", "pk")[
                :DASHBOARD_ROWS
            ]
        ),
    )


def service_levels(*, days: Iterable[int]) -> list[ServiceLevel]:
    """Fill rate and median wait for each window: one query for the counts of all
    windows, then one per window for its median (the middle row by wait, read with an
    offset, so the same SQL on PostgreSQL and SQLite)."""
    now = timezone.now()
    since = {window: now - datetime.timedelta(days=window) for window in days}
    earliest = min(since.values())
    # Lines of the orders placed since each window began: order numbers grow with time,
    # so each window is the lines from its first order on (no join with the orders).
    first_order = {
        window: Subquery(
            Order.objects.filter(created_at__gte=t).order_by("created_at", "pk").values("pk")[:1]
        )
        for window, t in since.items()
    }
    ordered = OrderLine.objects.filter(order_id__gte=first_order[max(since)]).aggregate(
        **{
            f"{figure}_{window}": Coalesce(
                Sum(field, filter=Q(order_id__gte=first_order[window])), 0
            )
            for window in since
            for figure, field in (("ordered", "quantity"), ("queued", "queued_units"))
        }
    )
    served = OrderLine.objects.filter(backorder_served_at__gte=earliest).order_by()
    counts = served.aggregate(
        **{
            f"served_{window}": Count("pk", filter=Q(backorder_served_at__gte=t))
            for window, t in since.items()
        }
    )
    wait = ExpressionWrapper(F("backorder_served_at") - F("queued_at"), DurationField())
    levels = []
    for window, t in since.items():
        units, queued, count = (
            ordered[f"ordered_{window}"],
            ordered[f"queued_{window}"],
            counts[f"served_{window}"],
        )
        median = None
        if count:
            median = (
                served.filter(backorder_served_at__gte=t)
                .annotate(wait=wait)
                .order_by("wait", "pk")
                .values_list("wait", flat=True)[count // 2]
            )
        levels.append(
            ServiceLevel(
                days=window,
                units_ordered=units,
                fill_rate=(units - queued) / units if units else None,
                backorders_served=count,
                median_wait=median,
            )
        )
    return levels


PREVIEW_ORDERS = 10  # order numbers a receiving preview names


@dataclass(frozen=True)
class QueueReach:
    """What some units coming in would do for a product's queue."""

    units: int  # waiting units they would cover
    orders: int  # back-orders they would reach, in full or in part
    order_numbers: list[str]  # the first PREVIEW_ORDERS of them, in queue order

    @property
    def more(self) -> int:
        return self.orders - len(self.order_numbers)


def queue_reach(*, product: Product, units: int, after: int = 0) -> QueueReach:
    """The waiting back-orders that `units` more units would serve, once the first
    `after` waiting units are covered by other supply: one query over the queue."""
    through = Window(Sum("backordered"), order_by=QUEUE_ORDER)  # this line's units included
    reached = (
        OrderLine.objects.backorder_queue(product.pk)
        .annotate(through=through)
        .filter(through__gt=after, through__lt=after + units + F("backordered"))
    )
    numbers = [
        str(ORDER_NUMBER_OFFSET + order_id)
        for order_id in reached.values_list("order_id", flat=True)[:PREVIEW_ORDERS]
    ]
    covered = min(units, max(product.backordered - after, 0))
    return QueueReach(
        units=covered, orders=reached.count() if numbers else 0, order_numbers=numbers
    )


def receipt_reach(*, product: Product, quantity: int) -> QueueReach:
    """Receiving `quantity` now: the queue gets them and what is available, head first."""
    return queue_reach(product=product, units=max(product.available, 0) + quantity)


def inbound_reach(*, product: Product, quantity: int, expected_date: datetime.date) -> QueueReach:
    """Announcing an inbound: the back-orders it would date, behind what is available
    and what confirmed inbounds bring by that day."""
    earlier = product.inbounds.confirmed().filter(expected_date__lte=expected_date)
    supply = earlier.aggregate(units=Coalesce(Sum("quantity"), 0))["units"]
    return queue_reach(product=product, units=quantity, after=max(product.available, 0) + supply)
