import datetime

from django.db.models import Exists, F, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from catalog.models import Product, StockMovement
from notifications.selectors import emails_overdue_count
from orders.models import DelayNotice, OrderLine
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
