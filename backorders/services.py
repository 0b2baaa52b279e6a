"""Receiving stock and serving the back-order queue.

A back-order is the waiting part of an order line (orders.OrderLine.backordered), so
this app builds on orders and catalog; neither of them imports it.
"""

import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Min, Prefetch
from django.db.models.functions import Now
from django.utils import timezone

from backorders.exceptions import BackorderError
from backorders.models import BackInStockSignup
from catalog.models import Product
from catalog.policy import Availability
from catalog.services import products_lock, stock_increase, stock_quantity_check
from core.broker import enqueue_on_commit
from notifications.selectors import emails_written
from notifications.services import Email, emails_queue
from orders.models import Order, OrderLine
from orders.selectors import order_email_facts
from orders.services import order_lines_fill_from_queue

REMINDER_BATCH = 200


def stock_receive(*, product: Product, quantity: int, reference: str = "") -> None:
    """Units arrived: on hand grows now; the queue is served by a task after commit,
    and shoppers who asked are told it is back, no more of them than units free."""
    from backorders.tasks import backorders_allocate_task  # tasks import this module

    stock_quantity_check(quantity=quantity, reference=reference)
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
    while units := order_lines_fill_from_queue(product_id=product_id, batch_size=batch_size):
        total += units
    return total
