from celery import shared_task
from django.db import InterfaceError, OperationalError

from orders.billing import (
    order_charge_due,
    orders_with_charges_due,
    payment_holds_expire,
    payments_stalled_resume,
)
from orders.promises import line_etas_refresh, promises_keep
from orders.selectors import products_with_backorders
from orders.services import delay_notices_expire

# Transient database trouble only; each service is one transaction, so a retry redoes
# it from what is committed.
_RETRY = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 2,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 8,
}


@shared_task(name="orders.tasks.line_etas_refresh", **_RETRY)
def line_etas_refresh_task(product_id: int) -> int:
    return line_etas_refresh(product_id=product_id)


@shared_task(name="orders.tasks.promises_keep", **_RETRY)
def promises_keep_task(product_id: int) -> int:
    return promises_keep(product_id=product_id)


@shared_task(name="orders.tasks.promises_sweep")
def promises_sweep() -> int:
    """Hourly: settle the notices whose deadline passed, then re-date and re-check
    every product with waiting back-orders, for what the calendar moved (an inbound
    fallen overdue, a promise drawing near) and any message lost on the way."""
    delay_notices_expire()
    product_ids = products_with_backorders()
    for product_id in product_ids:
        line_etas_refresh_task.delay(product_id)
        promises_keep_task.delay(product_id)
    return len(product_ids)


@shared_task(name="orders.tasks.lines_charges_due", **_RETRY)
def lines_charges_due_task(line_ids: list[int]) -> int:
    """After a fill batch: one charge task per order it served that pays in the store."""
    order_ids = orders_with_charges_due(line_ids=line_ids)
    for order_id in order_ids:
        order_charge_due_task.delay(order_id)
    return len(order_ids)


@shared_task(name="orders.tasks.order_charge_due", acks_late=True, **_RETRY)
def order_charge_due_task(order_id: int) -> None:
    order_charge_due(order_id=order_id)


@shared_task(name="orders.tasks.payments_sweep")
def payments_sweep() -> int:
    """Every few minutes: provider calls a dead worker or request left pending, charges
    a lost task left, payment holds past their date."""
    payments_stalled_resume()
    payment_holds_expire()
    order_ids = orders_with_charges_due()
    for order_id in order_ids:
        order_charge_due_task.delay(order_id)
    return len(order_ids)
