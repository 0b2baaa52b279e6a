"""The outbox: callers write an email in their own transaction; it is delivered after
commit by a task, and the beat sweep delivers anything a lost message left behind.
This app imports no other app: callers hand it everything the email needs."""

import datetime
import logging
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone

from notifications.models import OutboxEmail
from storefront.celery import enqueue_on_commit

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
# A claimed row not finished after this long belongs to a worker that died.
CLAIM_TIMEOUT = datetime.timedelta(minutes=15)


def email_queue(*, key: str, to: str, event: str, context: dict[str, Any]) -> OutboxEmail | None:
    """Render `notifications/<event>` templates into an outbox row and deliver it after
    commit. Returns None when this event's email was already written."""
    subject = render_to_string(f"notifications/{event}_subject.txt", context)
    email, created = OutboxEmail.objects.get_or_create(
        key=key,
        defaults={
            "event": event,
            "to_email": to,
            "subject": " ".join(subject.split()),
            "body_text": render_to_string(f"notifications/{event}.txt", context),
            "body_html": render_to_string(f"notifications/{event}.html", context),
        },
    )
    if not created:
        return None
    from notifications.tasks import email_deliver_task  # tasks import this module

    enqueue_on_commit(email_deliver_task, email.pk)
    return email


def email_deliver(*, email_id: int) -> bool:
    """Send one outbox row once. Returns True when this call sent it."""
    claimed = OutboxEmail.objects.filter(pk=email_id, status=OutboxEmail.Status.PENDING).update(
        status=OutboxEmail.Status.SENDING, attempts=F("attempts") + 1, claimed_at=timezone.now()
    )
    if not claimed:
        return False  # sent, failed for good, or another worker holds it
    email = OutboxEmail.objects.get(pk=email_id)
    message = EmailMultiAlternatives(
        subject=email.subject,
        body=email.body_text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[email.to_email],
        headers={"X-Outbox-Key": email.key},
    )
    if email.body_html:
        message.attach_alternative(email.body_html, "text/html")
    try:
        message.send()
    except Exception as error:
        status = (
            OutboxEmail.Status.FAILED
            if email.attempts >= MAX_ATTEMPTS
            else OutboxEmail.Status.PENDING
        )
        logger.warning("email %s attempt %s failed: %s", email.pk, email.attempts, error)
        OutboxEmail.objects.filter(pk=email.pk).update(status=status, last_error=repr(error))
        return False
    OutboxEmail.objects.filter(pk=email.pk).update(
        status=OutboxEmail.Status.SENT, sent_at=timezone.now(), last_error=""
    )
    return True


def emails_reclaim(*, older_than: datetime.timedelta) -> list[int]:
    """Rows a lost message or a dead worker left behind, made pending again."""
    now = timezone.now()
    OutboxEmail.objects.filter(
        status=OutboxEmail.Status.SENDING, claimed_at__lt=now - CLAIM_TIMEOUT
    ).update(status=OutboxEmail.Status.PENDING)
    return list(
        OutboxEmail.objects.filter(
            status=OutboxEmail.Status.PENDING, created_at__lt=now - older_than
        ).values_list("pk", flat=True)
    )
