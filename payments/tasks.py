from celery import shared_task
from django.db import InterfaceError, OperationalError

from payments.services import payment_execute


@shared_task(
    name="payments.tasks.payment_execute",
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=2,
    max_retries=8,
)
def payment_execute_task(payment_id: int) -> None:
    payment_execute(payment_id=payment_id)
