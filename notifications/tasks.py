import datetime

from celery import shared_task

from notifications.services import email_deliver, emails_reclaim

SWEEP_AGE = datetime.timedelta(minutes=2)


@shared_task(name="notifications.tasks.email_deliver")
def email_deliver_task(email_id: int) -> bool:
    return email_deliver(email_id=email_id)


@shared_task(name="notifications.tasks.emails_sweep")
def emails_sweep() -> int:
    email_ids = emails_reclaim(older_than=SWEEP_AGE)
    for email_id in email_ids:
        email_deliver_task.delay(email_id)
    return len(email_ids)
