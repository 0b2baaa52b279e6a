import datetime
from unittest import mock

import pytest
from django.core import mail
from django.utils import timezone

from notifications.models import OutboxEmail
from notifications.services import MAX_ATTEMPTS, email_deliver, email_queue, emails_reclaim

pytestmark = pytest.mark.django_db

FACTS = {
    "number": "100001",
    "name": "Sam",
    "status_url": "http://testserver/orders/abc/",
    "shipping_preference": "Ship what is ready now",
    "lines": [],
}


def queue(key="order-placed:1"):
    return email_queue(key=key, to="sam@example.com", event="order_placed", context=FACTS)


def test_the_same_event_is_written_once(run_on_commit):
    assert run_on_commit(queue) is not None
    assert run_on_commit(queue) is None
    assert OutboxEmail.objects.count() == 1
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject == "Order 100001 received"
    assert mail.outbox[0].alternatives[0].mimetype == "text/html"


def test_delivery_is_published_only_after_commit():
    email = queue()
    assert len(mail.outbox) == 0
    assert OutboxEmail.objects.get(pk=email.pk).status == OutboxEmail.Status.PENDING


def test_a_second_delivery_sends_nothing():
    email = queue()
    assert email_deliver(email_id=email.pk) is True
    assert email_deliver(email_id=email.pk) is False
    assert len(mail.outbox) == 1
    email.refresh_from_db()
    assert (email.status, email.attempts) == (OutboxEmail.Status.SENT, 1)


def test_a_failed_send_stays_pending_then_fails_for_good():
    email = queue()
    with mock.patch(
        "django.core.mail.backends.locmem.EmailBackend.send_messages",
        side_effect=ConnectionRefusedError("smtp down"),
    ):
        for _ in range(MAX_ATTEMPTS - 1):
            assert email_deliver(email_id=email.pk) is False
            email.refresh_from_db()
            assert email.status == OutboxEmail.Status.PENDING
        email_deliver(email_id=email.pk)
    email.refresh_from_db()
    assert (email.status, email.attempts) == (OutboxEmail.Status.FAILED, MAX_ATTEMPTS)
    assert "smtp down" in email.last_error
    assert email_deliver(email_id=email.pk) is False  # failed rows wait for staff


def test_reclaim_returns_old_pending_and_abandoned_claims():
    fresh, old, abandoned = queue("a"), queue("b"), queue("c")
    long_ago = timezone.now() - datetime.timedelta(hours=1)
    OutboxEmail.objects.filter(pk__in=[old.pk, abandoned.pk]).update(created_at=long_ago)
    OutboxEmail.objects.filter(pk=abandoned.pk).update(
        status=OutboxEmail.Status.SENDING, claimed_at=long_ago
    )
    assert sorted(emails_reclaim(older_than=datetime.timedelta(minutes=2))) == sorted(
        [old.pk, abandoned.pk]
    )
    assert OutboxEmail.objects.get(pk=fresh.pk).status == OutboxEmail.Status.PENDING
