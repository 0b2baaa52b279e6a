"""The outbox. Callers write emails in their own transaction with email_queue(); after
commit a task delivers them, and the beat sweep delivers anything a lost message or a
dead worker left behind. This app imports no other app: callers hand it plain data
(JSON-serialisable facts) that the templates turn into words."""

import datetime
import logging
import random
import smtplib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import Expression, F, QuerySet, Value
from django.utils import timezone

from core.broker import enqueue_on_commit
from core.db import insert_from_select
from notifications.models import OutboxEmail
from notifications.rendering import email_render

logger = logging.getLogger(__name__)

# A claimed row not finished after this long belongs to a worker that died.
CLAIM_TIMEOUT = datetime.timedelta(minutes=15)
# Emails a delivery task takes at once, over one SMTP connection.
DELIVERY_BATCH = 100


@dataclass(frozen=True)
class Email:
    key: str  # names the event; unique
    to: str
    event: str  # template name under notifications/
    context: dict[str, Any]


def email_queue(*, key: str, to: str, event: str, context: dict[str, Any]) -> None:
    emails_queue(emails=[Email(key=key, to=to, event=event, context=context)])


def emails_queue(*, emails: Sequence[Email]) -> None:
    """Write emails in the caller's transaction; an event already written is skipped.
    Their delivery is published after commit."""
    if not emails:
        return
    now = timezone.now()
    OutboxEmail.objects.bulk_create(
        [
            OutboxEmail(
                key=email.key,
                event=email.event,
                to_email=email.to,
                context=email.context,
                created_at=now,
                next_attempt_at=now,
            )
            for email in emails
        ],
        ignore_conflicts=True,
    )
    # By key alone (the unique index): a repeated event's row may already be sent.
    written = OutboxEmail.objects.filter(key__in=[email.key for email in emails])
    _deliver_after_commit(
        [pk for pk, status in written.values_list("pk", "status") if status == "pending"]
    )


def emails_queue_rows(
    *, source: QuerySet, key: Expression, to: Expression, event: str, context: Expression
) -> int:
    """emails_queue for many events at once: one email per row of `source`, its key,
    recipient and facts (a JSONObject) computed in the database. Returns emails written."""
    now = timezone.now()
    email_ids = insert_from_select(
        model=OutboxEmail,
        source=source,
        values={
            "key": key,
            "event": Value(event),
            "to_email": to,
            "context": context,
            "subject": Value(""),
            "status": Value(OutboxEmail.Status.PENDING),
            "attempts": Value(0),
            "last_error": Value(""),
            "created_at": Value(now),
            "next_attempt_at": Value(now),
        },
        ignore_conflicts=True,
    )
    _deliver_after_commit(email_ids)
    return len(email_ids)


def _deliver_after_commit(email_ids: Sequence[int]) -> None:
    from notifications.tasks import emails_deliver_task  # tasks import this module

    for start in range(0, len(email_ids), DELIVERY_BATCH):
        enqueue_on_commit(emails_deliver_task, email_ids[start : start + DELIVERY_BATCH])


@dataclass
class DeliveryReport:
    sent: list[int] = field(default_factory=list)
    retry: list[int] = field(default_factory=list)  # transient: try after `retry_after`
    failed: list[int] = field(default_factory=list)  # permanent or out of attempts
    retry_after: datetime.timedelta | None = None  # the soonest retry's delay


def emails_deliver(*, email_ids: Sequence[int]) -> DeliveryReport:
    """Send the due, pending emails among `email_ids`, each at most once: every row is
    claimed first and recorded as sent right after the server accepts it."""
    claimed = _emails_claim(email_ids)
    report = DeliveryReport()
    if not claimed:
        return report
    claim = claimed[0].claimed_at
    try:
        connection = get_connection(fail_silently=False)
        connection.open()
    except Exception as error:  # the server is unreachable: every email waits
        for email in claimed:
            _delivery_failed(email, error, report)
        return report
    try:
        for position, email in enumerate(claimed):
            if timezone.now() - claim > CLAIM_TIMEOUT / 3:
                # A slow server: hand the rest back before the sweep could think this
                # worker dead and give them to another.
                _emails_release(claimed[position:])
                break
            try:
                rendered = email_render(event=email.event, context=email.context)
                message = EmailMultiAlternatives(
                    subject=rendered.subject,
                    body=rendered.text,
                    from_email=settings.DEFAULT_FROM_EMAIL,
                    to=[email.to_email],
                    headers={"X-Outbox-Key": email.key},
                    connection=connection,
                )
                message.attach_alternative(rendered.html, "text/html")
                message.send()
            except Exception as error:
                _delivery_failed(email, error, report)
            else:
                report.sent.append(email.pk)
                _email_record_sent(email, subject=rendered.subject)
    finally:
        connection.close()
    return report


def _claimed(email: OutboxEmail) -> QuerySet:
    """The row, if this worker's claim on it still stands."""
    return OutboxEmail.objects.filter(
        pk=email.pk, status=OutboxEmail.Status.SENDING, claimed_at=email.claimed_at
    )


def _email_record_sent(email: OutboxEmail, *, subject: str) -> None:
    """_claimed(email).update(status="sent", …), as one fixed statement: it runs once
    per email, and building it through the ORM was a tenth of a mailer's CPU."""
    as_db = db_connection.ops.adapt_datetimefield_value
    with db_connection.cursor() as cursor:
        cursor.execute(
            RECORD_SENT_SQL,
            [
                OutboxEmail.Status.SENT,
                subject,
                as_db(timezone.now()),
                email.pk,
                as_db(email.claimed_at),
            ],
        )


RECORD_SENT_SQL = (
    f"UPDATE {OutboxEmail._meta.db_table} SET status = %s, subject = %s, sent_at = %s,"
    f" last_error = '' WHERE id = %s AND status = '{OutboxEmail.Status.SENDING}'"
    " AND claimed_at = %s"
)


def _emails_release(emails: Sequence[OutboxEmail]) -> None:
    for email in emails:
        _claimed(email).update(status=OutboxEmail.Status.PENDING)


def _emails_claim(email_ids: Sequence[int]) -> list[OutboxEmail]:
    """Mark due pending rows as sending, skipping rows another worker holds."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            OutboxEmail.objects.filter(
                pk__in=email_ids, status=OutboxEmail.Status.PENDING, next_attempt_at__lte=now
            )
            .order_by("pk")
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)
        )
        OutboxEmail.objects.filter(pk__in=ids, status=OutboxEmail.Status.PENDING).update(
            status=OutboxEmail.Status.SENDING, attempts=F("attempts") + 1, claimed_at=now
        )
    return list(OutboxEmail.objects.filter(pk__in=ids, claimed_at=now).order_by("pk"))


def _is_transient(error: Exception) -> bool:
    if isinstance(error, smtplib.SMTPResponseException):
        return 400 <= error.smtp_code < 500
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _ in error.recipients.values())
    return isinstance(
        error, (smtplib.SMTPServerDisconnected, ConnectionError, TimeoutError, OSError)
    )


# The longest wait between attempts: well inside the broker's visibility timeout (an
# hour), so a retry scheduled with a countdown is never redelivered as lost.
MAX_RETRY_DELAY = 1800


def retry_delay(attempts: int) -> datetime.timedelta:
    """Exponential backoff with jitter: 15–30 s after the first failure, doubling up to
    half an hour."""
    ceiling = min(30 * 2 ** (attempts - 1), MAX_RETRY_DELAY)
    return datetime.timedelta(seconds=random.uniform(ceiling / 2, ceiling))


def _delivery_failed(email: OutboxEmail, error: Exception, report: DeliveryReport) -> None:
    transient = _is_transient(error) and email.attempts < settings.EMAIL_MAX_ATTEMPTS
    logger.warning("email %s attempt %s failed: %r", email.pk, email.attempts, error)
    if transient:
        delay = retry_delay(email.attempts)
        report.retry.append(email.pk)
        report.retry_after = min(delay, report.retry_after or delay)
        update = {"status": OutboxEmail.Status.PENDING, "next_attempt_at": timezone.now() + delay}
    else:
        report.failed.append(email.pk)
        update = {"status": OutboxEmail.Status.FAILED}
    _claimed(email).update(last_error=repr(error)[:2000], **update)


def emails_due() -> list[int]:
    """Pending emails overdue by more than the sweep's grace period; claims abandoned by
    a dead worker are released first. Work that a lost message left behind."""
    now = timezone.now()
    OutboxEmail.objects.filter(
        status=OutboxEmail.Status.SENDING, claimed_at__lt=now - CLAIM_TIMEOUT
    ).update(status=OutboxEmail.Status.PENDING, next_attempt_at=now)
    grace = datetime.timedelta(seconds=settings.EMAIL_SWEEP_GRACE_SECONDS)
    return list(
        OutboxEmail.objects.filter(
            status=OutboxEmail.Status.PENDING, next_attempt_at__lte=now - grace
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:10_000]
    )


def emails_resend(*, email_ids: Sequence[int]) -> int:
    """Staff send failed emails again; returns how many were queued."""
    with transaction.atomic():
        ids = list(
            OutboxEmail.objects.filter(
                pk__in=email_ids, status=OutboxEmail.Status.FAILED
            ).values_list("pk", flat=True)
        )
        OutboxEmail.objects.filter(pk__in=ids).update(
            status=OutboxEmail.Status.PENDING, attempts=0, next_attempt_at=timezone.now()
        )
        _deliver_after_commit(ids)
    return len(ids)
