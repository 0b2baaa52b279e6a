import datetime
import smtplib
from unittest import mock

import pytest
from django.core import mail
from django.utils import timezone

from notifications.models import OutboxEmail
from notifications.services import email_queue, emails_deliver, emails_due, emails_resend
from notifications.tasks import emails_sweep

pytestmark = pytest.mark.django_db

FACTS = {
    "number": "100001",
    "name": "Sam",
    "status_url": "http://testserver/orders/abc/",
    "shipping_preference": "Ship what is ready now",
    "ships_ready_now": True,
    "lines": [],
}
SEND = "django.core.mail.backends.locmem.EmailBackend.send_messages"


def queue(key="order-placed:1"):
    email_queue(key=key, to="sam@example.com", event="order_placed", context=FACTS)
    return OutboxEmail.objects.get(key=key)


def deliver(email):
    report = emails_deliver(email_ids=[email.pk])
    email.refresh_from_db()
    return report


def test_the_same_event_is_written_and_sent_once(run_on_commit):
    run_on_commit(queue)
    run_on_commit(queue)
    assert OutboxEmail.objects.count() == 1
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.subject == "Order 100001 received"
    assert message.to == ["sam@example.com"]
    assert message.alternatives[0].mimetype == "text/html"
    assert OutboxEmail.objects.get().subject == "Order 100001 received"


def test_delivery_is_published_only_after_commit():
    email = queue()
    assert len(mail.outbox) == 0
    assert email.status == OutboxEmail.Status.PENDING


def test_a_second_delivery_sends_nothing():
    email = queue()
    assert deliver(email).sent == [email.pk]
    assert deliver(email).sent == []
    assert len(mail.outbox) == 1
    assert (email.status, email.attempts) == (OutboxEmail.Status.SENT, 1)


def test_transient_failure_waits_with_backoff_then_succeeds():
    email = queue()
    with mock.patch(SEND, side_effect=smtplib.SMTPServerDisconnected("gone")):
        report = deliver(email)
    assert report.retry == [email.pk] and report.retry_after > datetime.timedelta(0)
    assert email.status == OutboxEmail.Status.PENDING and "gone" in email.last_error
    assert email.next_attempt_at > timezone.now()
    assert deliver(email).sent == []  # not due yet
    OutboxEmail.objects.filter(pk=email.pk).update(next_attempt_at=timezone.now())
    assert deliver(email).sent == [email.pk]
    assert (email.status, email.attempts, len(mail.outbox)) == ("sent", 2, 1)


def test_transient_failures_give_up_after_the_limit(settings):
    settings.EMAIL_MAX_ATTEMPTS = 3
    email = queue()
    with mock.patch(SEND, side_effect=ConnectionRefusedError("smtp down")):
        for _ in range(3):
            OutboxEmail.objects.filter(pk=email.pk).update(next_attempt_at=timezone.now())
            deliver(email)
    assert (email.status, email.attempts) == (OutboxEmail.Status.FAILED, 3)
    assert "smtp down" in email.last_error


def test_permanent_failure_fails_at_once():
    email = queue()
    refused = smtplib.SMTPRecipientsRefused({"sam@example.com": (550, b"no such user")})
    with mock.patch(SEND, side_effect=refused):
        assert deliver(email).failed == [email.pk]
    assert (email.status, email.attempts) == (OutboxEmail.Status.FAILED, 1)


def test_staff_resend_a_failed_email(run_on_commit):
    email = queue()
    OutboxEmail.objects.filter(pk=email.pk).update(status=OutboxEmail.Status.FAILED, attempts=6)
    assert run_on_commit(emails_resend, email_ids=[email.pk]) == 1
    email.refresh_from_db()
    assert (email.status, len(mail.outbox)) == (OutboxEmail.Status.SENT, 1)
    assert emails_resend(email_ids=[email.pk]) == 0  # only failed ones


def test_sweep_delivers_overdue_and_abandoned_emails_but_not_fresh_ones():
    fresh, overdue, abandoned = queue("a"), queue("b"), queue("c")
    long_ago = timezone.now() - datetime.timedelta(hours=1)
    OutboxEmail.objects.filter(pk=overdue.pk).update(next_attempt_at=long_ago)
    OutboxEmail.objects.filter(pk=abandoned.pk).update(
        status=OutboxEmail.Status.SENDING, claimed_at=long_ago
    )
    assert emails_due() == [overdue.pk]  # the abandoned claim is released, due from now
    assert emails_sweep() == 1
    OutboxEmail.objects.filter(pk=abandoned.pk).update(next_attempt_at=long_ago)
    assert emails_sweep() == 1
    assert sorted(m.extra_headers["X-Outbox-Key"] for m in mail.outbox) == ["b", "c"]
    fresh.refresh_from_db()
    assert fresh.status == OutboxEmail.Status.PENDING


def test_the_task_schedules_a_transient_failure_for_later():
    from notifications.tasks import emails_deliver_task

    email = queue()
    with (
        mock.patch(SEND, side_effect=smtplib.SMTPServerDisconnected("gone")),
        mock.patch.object(emails_deliver_task, "apply_async") as later,
    ):
        assert emails_deliver_task.run([email.pk]) == 0
    ((args, kwargs),) = later.call_args_list
    assert args == (([email.pk],),) and 0 < kwargs["countdown"] <= 30
    OutboxEmail.objects.filter(pk=email.pk).update(next_attempt_at=timezone.now())
    assert emails_deliver_task.run([email.pk]) == 1
    email.refresh_from_db()
    assert (email.status, email.attempts) == (OutboxEmail.Status.SENT, 2)


def test_a_slow_batch_hands_back_its_claims_before_the_sweep_would(monkeypatch):
    emails = [queue(f"slow-{n}") for n in range(3)]
    monkeypatch.setattr("notifications.services.CLAIM_TIMEOUT", datetime.timedelta(0))
    report = emails_deliver(email_ids=[email.pk for email in emails])
    assert report.sent == [] and len(mail.outbox) == 0
    statuses = OutboxEmail.objects.values_list("status", flat=True)
    assert set(statuses) == {OutboxEmail.Status.PENDING}


def test_a_row_reclaimed_meanwhile_is_not_recorded_by_the_old_claim():
    email = queue()
    OutboxEmail.objects.filter(pk=email.pk).update(
        status=OutboxEmail.Status.SENDING, claimed_at=timezone.now()
    )
    stale = OutboxEmail.objects.get(pk=email.pk)
    OutboxEmail.objects.filter(pk=email.pk).update(claimed_at=timezone.now())  # re-claimed
    from notifications.services import _claimed

    assert _claimed(stale).update(status=OutboxEmail.Status.SENT) == 0


def test_a_row_reclaimed_during_its_send_is_recorded_only_by_the_new_claim(monkeypatch):
    """On the path production uses (RECORD_SENT_SQL): while the first worker's send is
    under way its claim times out, the sweep releases the row and a second worker claims
    it. The first worker's "sent" must then match nothing, leaving the row the second
    worker's to finish, while the email sent without interference is recorded."""
    from notifications import services

    kept, reclaimed = queue("kept"), queue("reclaimed")
    second_claims = []

    def send_while_another_worker_reclaims(messages):
        if messages[0].extra_headers["X-Outbox-Key"] == "reclaimed":
            with monkeypatch.context() as timed_out:
                timed_out.setattr(services, "CLAIM_TIMEOUT", datetime.timedelta(0))
                emails_due()  # the sweep releases the claim
            second_claims.extend(services._emails_claim([reclaimed.pk]))
        return len(messages)

    with mock.patch(SEND, side_effect=send_while_another_worker_reclaims):
        emails_deliver(email_ids=[kept.pk, reclaimed.pk])
    kept.refresh_from_db()
    assert (kept.status, kept.sent_at is not None) == (OutboxEmail.Status.SENT, True)
    (second,) = second_claims
    reclaimed.refresh_from_db()
    assert (reclaimed.status, reclaimed.claimed_at, reclaimed.sent_at) == (
        OutboxEmail.Status.SENDING,
        second.claimed_at,
        None,
    )
