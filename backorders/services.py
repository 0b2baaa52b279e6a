"""Receiving stock and serving the back-order queue.

A back-order is the waiting part of an order line (orders.OrderLine.backordered), so
this app builds on orders and catalog; neither of them imports it.
"""

import datetime
import logging

from django.conf import settings
from django.db import transaction
from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Exists,
    Expression,
    ExpressionWrapper,
    F,
    IntegerField,
    Min,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Cast, Concat, JSONArray, JSONObject, Now
from django.utils import timezone

from backorders.exceptions import BackorderError
from backorders.models import BackInStockSignup
from catalog.models import Product
from catalog.policy import Availability
from catalog.services import products_lock, stock_allocate_rows, stock_increase
from notifications.selectors import emails_written
from notifications.services import Email, emails_queue, emails_queue_rows
from orders.models import LINE_REFERENCE, Order, OrderLine, ShippingPreference
from orders.selectors import order_email_facts, order_email_facts_expression
from storefront.celery import enqueue_on_commit

logger = logging.getLogger(__name__)

MAX_RECEIPT_QUANTITY = 1_000_000
REMINDER_BATCH = 200


def stock_receive(*, product: Product, quantity: int, reference: str = "") -> None:
    """Units arrived: on hand grows now; the queue is served by a task after commit,
    and shoppers who asked are told it is back, no more of them than units free."""
    from backorders.tasks import backorders_allocate_task  # tasks import this module

    with transaction.atomic():
        locked = products_lock(product_ids=[product.pk])[product.pk]
        stock_increase(product=locked, quantity=quantity, reference=reference)
        if locked.backordered:
            enqueue_on_commit(backorders_allocate_task, product.pk)
        _back_in_stock_tell(locked)


def back_in_stock_signup(*, product: Product, email: str) -> bool:
    """Remember to tell `email` when the product is back; False if already asked."""
    if product.purchase_policy.availability != Availability.UNAVAILABLE:
        raise BackorderError(f"{product.name} can be bought now.")
    _, created = BackInStockSignup.objects.get_or_create(
        product=product, email=email.strip().lower(), notified_at=None
    )
    return created


def _back_in_stock_tell(product: Product) -> None:
    """In sign-up order, one shopper per free unit (the product row is locked)."""
    free = product.purchase_policy.free
    if free <= 0:
        return
    signups = list(
        BackInStockSignup.objects.filter(product=product, notified_at=None)
        .order_by("created_at", "pk")
        .select_for_update()[:free]
    )
    if not signups:
        return
    BackInStockSignup.objects.filter(pk__in=[s.pk for s in signups]).update(notified_at=Now())
    facts = {
        "product_name": product.name,
        "link_url": settings.SITE_URL + product.get_absolute_url(),
        "link_label": "See it in the store",
    }
    emails_queue(
        emails=[
            Email(key=f"back-in-stock:{s.pk}", to=s.email, event="back_in_stock", context=facts)
            for s in signups
        ]
    )


def backorder_reminders_queue() -> int:
    """One "still waiting" email per order per period of BACKORDER_REMINDER_DAYS that
    its back-order has waited; the period is in the key, so a rerun writes nothing.
    Returns the emails written."""
    period = datetime.timedelta(days=settings.BACKORDER_REMINDER_DAYS)
    now = timezone.now()
    waiting_since = (
        OrderLine.objects.filter(backordered__gt=0, queued_at__lte=now - period)
        .values("order_id")
        .annotate(since=Min("queued_at"))
        .order_by("order_id")
    )
    keys = {
        row["order_id"]: f"backorder-reminder:{row['order_id']}:{(now - row['since']) // period}"
        for row in waiting_since
    }
    written_already = emails_written(keys=keys.values())
    due = sorted(order_id for order_id, key in keys.items() if key not in written_already)
    lines = Prefetch("lines", OrderLine.objects.select_related("product").order_by("pk"))
    for start in range(0, len(due), REMINDER_BATCH):
        with transaction.atomic():
            orders = Order.objects.filter(pk__in=due[start : start + REMINDER_BATCH])
            emails_queue(
                emails=[
                    Email(
                        key=keys[order.pk],
                        to=order.email,
                        event="backorder_reminder",
                        context=order_email_facts(order=order, lines=order.lines.all()),
                    )
                    for order in orders.prefetch_related(lines)
                ]
            )
    return len(due)


def backorders_allocate(*, product_id: int, batch_size: int | None = None) -> int:
    """Give the product's available units to its queue, head first, in batches of one
    transaction each. Safe to run twice or concurrently: each batch re-reads the queue
    under the product lock. Returns the units allocated."""
    batch_size = batch_size or settings.BACKORDER_ALLOCATION_BATCH_SIZE
    total = 0
    while units := _allocate_batch(product_id=product_id, batch_size=batch_size):
        total += units
    return total


def _allocate_batch(*, product_id: int, batch_size: int) -> int:
    """One transaction: fill the head of the queue, set-based (a popular product can
    have tens of thousands waiting)."""
    with transaction.atomic():
        product = products_lock(product_ids=[product_id]).get(product_id)
        if product is None or product.available <= 0 or product.backordered <= 0:
            return 0
        # Every writer of a waiting line locks its product first, so the head cannot
        # change under us; still lock its lines, in pk order like every transaction.
        head = list(
            OrderLine.objects.backorder_queue(product_id).values_list("pk", "backordered")[
                :batch_size
            ]
        )
        list(
            OrderLine.objects.filter(pk__in=[pk for pk, _ in head])
            .order_by("pk")
            .select_for_update(of=("self",))
            .values_list("pk")
        )
        fills = []  # (line id, units, waiting), head first; only the last may be partial
        available = product.available
        for pk, waiting in head:
            if available == 0:
                break
            fills.append((pk, min(available, waiting), waiting))
            available -= fills[-1][1]
        if not fills:  # counters say lines wait, but none does: check_inventory names it
            logger.error("product %s counts waiting back-orders but has none", product_id)
            return 0
        partial_pk, partial_units, partial_waiting = fills[-1]
        if partial_units == partial_waiting:
            partial_pk = None
        # The ledger rows and emails are written before the lines change, each line's
        # fill being all it waits for but the partly filled head's. They select the
        # served lines as the head of the queue: one parameter, not a thousand ids.
        head_served = OrderLine.objects.backorder_queue(product_id).values("pk")[: len(fills)]
        served = OrderLine.objects.filter(pk__in=Subquery(head_served))
        units = Case(
            When(pk=partial_pk, then=Value(partial_units)),
            default=F("backordered"),
            output_field=IntegerField(),
        )
        allocated = stock_allocate_rows(
            product=product, source=served, units=units, reference=LINE_REFERENCE
        )
        _emails_queue_allocated(product=product, served=served, units=units)
        OrderLine.objects.filter(pk__in=[pk for pk, _, _ in fills]).exclude(pk=partial_pk).update(
            allocated=F("allocated") + F("backordered"), backordered=0
        )
        if partial_pk is not None:
            OrderLine.objects.filter(pk=partial_pk).update(
                allocated=F("allocated") + partial_units,
                backordered=F("backordered") - partial_units,
            )
        return allocated


def _emails_queue_allocated(*, product: Product, served: QuerySet, units: Expression) -> None:
    """One email per order served (an order has one line per product). The key names
    the line and how much of its back-order has been served after this fill, so a
    second write of the same event is a no-op."""
    still_waiting = ExpressionWrapper(F("backordered") - units, IntegerField())
    others_waiting = OrderLine.objects.filter(
        order_id=OuterRef("order_id"), backordered__gt=0
    ).exclude(pk=OuterRef("pk"))
    ships_now = Case(
        When(order__shipping_preference=ShippingPreference.SHIP_READY_NOW, then=True),
        When(Q(backordered__gt=units) | Q(Exists(others_waiting)), then=False),
        default=True,
        output_field=BooleanField(),
    )
    facts = order_email_facts_expression()
    served_after = ExpressionWrapper(
        F("queued_units") - F("cancelled") - still_waiting, IntegerField()
    )
    emails_queue_rows(
        source=served,
        key=Concat(
            Value("backorder-allocated:"),
            Cast(F("id"), CharField()),
            Value(":"),
            Cast(served_after, CharField()),
        ),
        to=F("order__email"),
        event="backorder_allocated",
        context=JSONObject(
            **facts,
            ships_now=ships_now,
            served=JSONArray(
                JSONObject(
                    name=Value(product.name),
                    sku=Value(product.sku),
                    units=units,
                    still_waiting=still_waiting,
                )
            ),
        ),
    )


def backorder_reprioritize(*, line_id: int, priority: int) -> None:
    """Staff move a waiting back-order up (higher) or down the queue."""
    with transaction.atomic():
        product_id = OrderLine.objects.values_list("product_id", flat=True).get(pk=line_id)
        products_lock(product_ids=[product_id])
        OrderLine.objects.filter(pk=line_id).exclude(priority=priority).update(
            priority=priority, reprioritized_at=Now()
        )
