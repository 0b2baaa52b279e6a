from celery import shared_task

from backorders.selectors import products_needing_allocation
from backorders.services import backorder_reminders_queue, backorders_allocate


@shared_task(name="backorders.tasks.backorders_allocate")
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
