"""Receiving stock and serving the back-order queue.

A back-order is the waiting part of an order line (orders.OrderLine.backordered), so
this app builds on orders and catalog; neither of them imports it.
"""

from collections import defaultdict

from django.conf import settings
from django.db import transaction

from catalog.models import Product
from catalog.services import products_lock, stock_allocate, stock_increase
from notifications.services import email_queue
from orders.models import OrderLine
from orders.selectors import order_email_facts
from orders.services import line_reference
from storefront.celery import enqueue_on_commit

MAX_RECEIPT_QUANTITY = 1_000_000


def stock_receive(*, product: Product, quantity: int, reference: str = "") -> None:
    """Units arrived: on hand grows now; the queue is served by a task after commit."""
    from backorders.tasks import backorders_allocate_task  # tasks import this module

    with transaction.atomic():
        locked = products_lock(product_ids=[product.pk])[product.pk]
        stock_increase(product=locked, quantity=quantity, reference=reference)
        if locked.backordered:
            enqueue_on_commit(backorders_allocate_task, product.pk)


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
    with transaction.atomic():
        product = products_lock(product_ids=[product_id]).get(product_id)
        if product is None or product.available <= 0 or product.backordered <= 0:
            return 0
        head_ids = list(
            OrderLine.objects.backorder_queue(product_id).values_list("pk", flat=True)[:batch_size]
        )
        # Every writer of a waiting line locks its product first, so the queue cannot
        # change under us; lock the lines in pk order like every other transaction.
        locked = OrderLine.objects.select_for_update(of=("self",)).select_related("order")
        lines_by_pk = locked.in_bulk(head_ids)
        available = product.available
        served: list[OrderLine] = []
        entries = []
        for pk in head_ids:
            if available == 0:
                break
            line = lines_by_pk[pk]
            units = min(available, line.backordered)
            line.allocated += units
            line.backordered -= units
            available -= units
            served.append(line)
            entries.append((units, line_reference(line)))
        OrderLine.objects.bulk_update(served, ["allocated", "backordered"])
        movements = stock_allocate(product=product, entries=entries, from_backorder=True)
        _emails_queue_allocated(served, movements, product)
        return sum(units for units, _ in entries)


def _emails_queue_allocated(lines: list[OrderLine], movements, product: Product) -> None:
    """One email per order served in this batch; the first movement id makes the
    event's key, so a second write of the same fill is a no-op."""
    by_order: dict[int, list] = defaultdict(list)
    for line, movement in zip(lines, movements, strict=True):
        line.product = product
        by_order[line.order_id].append((line, movement))
    for served in by_order.values():
        order = served[0][0].order
        email_queue(
            key=f"backorder-allocated:{order.pk}:{served[0][1].pk}",
            to=order.email,
            event="backorder_allocated",
            context={
                **order_email_facts(order=order),
                "lines": [
                    {"line": line, "units": movement.allocated_delta} for line, movement in served
                ],
            },
        )


def backorder_reprioritize(*, line_id: int, priority: int) -> None:
    """Staff move a waiting back-order up (higher) or down the queue."""
    with transaction.atomic():
        product_id = OrderLine.objects.values_list("product_id", flat=True).get(pk=line_id)
        products_lock(product_ids=[product_id])
        OrderLine.objects.filter(pk=line_id).update(priority=priority)
