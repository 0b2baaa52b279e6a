"""Receiving stock, announcing and changing inbound shipments, and serving the
back-order queue.

A back-order is the waiting part of an order line (orders.OrderLine.backordered), so
this app builds on orders and catalog; neither of them imports it. Each change to a
product's supply re-dates its waiting back-orders after commit (orders.promises).
"""

import datetime
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Min, Prefetch
from django.db.models.functions import Now
from django.utils import timezone

from backorders.exceptions import BackorderError
from backorders.models import BackInStockSignup
from catalog.exceptions import StockError
from catalog.models import Inbound, Product
from catalog.policy import Availability
from catalog.services import inbound_check, products_lock, stock_increase, stock_quantity_check
from core.broker import enqueue_on_commit
from notifications.selectors import emails_written
from notifications.services import Email, emails_queue
from orders.models import Order, OrderLine
from orders.promises import etas_refresh_on_commit
from orders.selectors import order_email_facts
from orders.services import order_lines_fill_from_queue

REMINDER_BATCH = 200


@dataclass(frozen=True)
class Receipt:
    product_id: int
    quantity: int
    reference: str = ""


def stock_receive(*, product: Product, quantity: int, reference: str = "") -> None:
    """Units arrived: on hand grows now, closing the open inbound of that reference;
    the queue is served by a task after commit, and shoppers who asked are told it is
    back, no more of them than units free."""
    receipts_apply(receipts=[Receipt(product.pk, quantity, reference)])


def receipts_apply(*, receipts: Sequence[Receipt]) -> None:
    """Several receipts (a delivery's CSV) in one transaction: all of them or none.
    Each product's queue is then served once, whatever its number of rows."""
    for receipt in receipts:
        stock_quantity_check(quantity=receipt.quantity, reference=receipt.reference)
    with transaction.atomic():
        locked = products_lock(product_ids=[receipt.product_id for receipt in receipts])
        by_product = itertools.groupby(
            sorted(receipts, key=lambda receipt: receipt.product_id),
            key=lambda receipt: receipt.product_id,
        )
        for product_id, rows in by_product:
            if product_id not in locked:
                raise StockError(f"Product {product_id} does not exist.")
            for receipt in rows:
                stock_increase(
                    product=locked[product_id],
                    quantity=receipt.quantity,
                    reference=receipt.reference,
                )
            _supply_arrived(locked[product_id])


def _supply_arrived(product: Product) -> None:
    """After units arrived for the locked product: its queue is served and its dates
    refreshed after commit, and shoppers waiting for it to come back are told."""
    from backorders.tasks import backorders_allocate_task  # tasks import this module

    if product.backordered:
        enqueue_on_commit(backorders_allocate_task, product.pk)
        # Dates change when a delivery differs from what was announced.
        etas_refresh_on_commit(product_ids=[product.pk])
    _back_in_stock_tell(product)


def inbound_announce(
    *, product: Product, quantity: int, expected_date: datetime.date, reference: str = ""
) -> Inbound:
    """A supplier confirmed a shipment: it dates the waiting back-orders it covers."""
    inbound_check(quantity=quantity, expected_date=expected_date, reference=reference)
    with transaction.atomic():
        products_lock(product_ids=[product.pk])
        if reference and Inbound.objects.open().filter(reference=reference).exists():
            raise StockError(
                f"An open inbound already has the reference {reference!r}: change that one.",
                field="reference",
            )
        inbound = Inbound.objects.create(
            product=product, quantity=quantity, expected_date=expected_date, reference=reference
        )
        etas_refresh_on_commit(product_ids=[product.pk])
    return inbound


def inbound_revise(
    *, inbound: Inbound, expected_date: datetime.date | None = None, quantity: int | None = None
) -> Inbound:
    """The supplier moved the date or changed the quantity of an open inbound. The
    customers whose dates move are told (orders.promises)."""
    with transaction.atomic():
        inbound = _inbound_lock(inbound)
        if expected_date is None and inbound.expected_date < timezone.localdate():
            raise StockError(
                f"Inbound {inbound.reference or inbound.pk} is overdue (expected "
                f"{inbound.expected_date:%Y-%m-%d}): give it a new expected date too.",
                field="expected_date",
            )
        inbound.expected_date = expected_date or inbound.expected_date
        inbound.quantity = inbound.quantity if quantity is None else quantity
        inbound_check(
            quantity=inbound.quantity,
            expected_date=inbound.expected_date,
            reference=inbound.reference,
        )
        inbound.save(update_fields=["expected_date", "quantity"])
        etas_refresh_on_commit(product_ids=[inbound.product_id])
    return inbound


def inbound_cancel(*, inbound: Inbound) -> Inbound:
    """The shipment will not come: it no longer dates anything."""
    with transaction.atomic():
        inbound = _inbound_lock(inbound)
        inbound.cancelled_at = timezone.now()
        inbound.save(update_fields=["cancelled_at"])
        etas_refresh_on_commit(product_ids=[inbound.product_id])
    return inbound


def inbound_receive(*, inbound: Inbound, quantity: int | None = None) -> Inbound:
    """The shipment arrived (all of it unless `quantity` says otherwise): a stock
    receipt of that inbound, which closes it; the queue is served after commit."""
    with transaction.atomic():
        inbound = _inbound_lock(inbound)
        quantity = inbound.quantity if quantity is None else quantity
        stock_quantity_check(quantity=quantity)
        reference = inbound.reference or f"inbound {inbound.pk}"
        stock_increase(product=inbound.product, quantity=quantity, reference=reference)
        _supply_arrived(inbound.product)
        Inbound.objects.filter(pk=inbound.pk).update(received_at=timezone.now())
        inbound.refresh_from_db()
    return inbound


def _inbound_lock(inbound: Inbound) -> Inbound:
    """Lock the inbound's product (every writer of its supply does) and re-read the
    inbound, which must still be open."""
    product = products_lock(product_ids=[inbound.product_id])[inbound.product_id]
    inbound = Inbound.objects.get(pk=inbound.pk)
    inbound.product = product
    if not inbound.is_open:
        state = "received" if inbound.received_at else "cancelled"
        raise StockError(f"Inbound {inbound.reference or inbound.pk} was {state} already.")
    return inbound


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
    while units := order_lines_fill_from_queue(product_id=product_id, batch_size=batch_size):
        total += units
    return total
