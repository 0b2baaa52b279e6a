from celery import shared_task

from notifications.services import DELIVERY_BATCH, emails_deliver, emails_due


@shared_task(name="notifications.tasks.emails_deliver")
def emails_deliver_task(email_ids: list[int]) -> int:
    report = emails_deliver(email_ids=email_ids)
    if report.retry and not emails_deliver_task.request.is_eager:
        # Bounded by EMAIL_MAX_ATTEMPTS in the service; in-process runs leave retries
        # to the sweep instead of sleeping in the request.
        emails_deliver_task.apply_async(
            (report.retry,), countdown=report.retry_after.total_seconds()
        )
    return len(report.sent)


@shared_task(name="notifications.tasks.emails_sweep")
def emails_sweep() -> int:
    email_ids = emails_due()
    for start in range(0, len(email_ids), DELIVERY_BATCH):
        emails_deliver_task.delay(email_ids[start : start + DELIVERY_BATCH])
    return len(email_ids)
