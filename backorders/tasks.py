from celery import shared_task
from django.db import InterfaceError, OperationalError

from backorders.selectors import products_needing_allocation
from backorders.services import backorder_reminders_queue, backorders_allocate


@shared_task(
    name="backorders.tasks.backorders_allocate",
    # Transient database trouble (a dropped connection, a failover) only; each batch is
    # its own transaction, so a retry carries on from the head of the queue.
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=8,
)
def backorders_allocate_task(product_id: int) -> int:
    return backorders_allocate(product_id=product_id)


@shared_task(name="backorders.tasks.backorders_sweep")
def backorders_sweep() -> int:
    product_ids = products_needing_allocation()
    for product_id in product_ids:
        backorders_allocate_task.delay(product_id)
    return len(product_ids)


@shared_task(name="backorders.tasks.backorder_reminders")
def backorder_reminders_task() -> int:
    return backorder_reminders_queue()
