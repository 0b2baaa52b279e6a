"""Each customer event produces its email once, with the facts and a working link."""

import datetime
from urllib.parse import urlparse

import pytest
from django.core import mail
from django.utils import timezone

from backorders.models import BackInStockSignup
from backorders.services import (
    back_in_stock_signup,
    backorder_reminders_queue,
    backorders_allocate,
    stock_receive,
)
from catalog.models import Inbound
from catalog.policy import BackorderPolicy
from notifications.models import OutboxEmail
from notifications.services import emails_deliver
from orders.models import OrderLine
from orders.services import order_cancel_backorders, order_ship
from tests.factories import order_create, product_create

pytestmark = pytest.mark.django_db


def sent(event: str):
    """The messages sent for an event, by the outbox key header."""
    return [m for m in mail.outbox if m.extra_headers["X-Outbox-Key"].startswith(event)]


def assert_link_works(client, message, url_part: str):
    link = next(word for word in message.body.split() if url_part in word)
    assert link.startswith("http://testserver/")
    assert client.get(urlparse(link).path).status_code == 200


@pytest.fixture
def grinder():
    return product_create(sku="GRINDER", name="Burr grinder", lead_time_days=21)


@pytest.fixture
def kettle():
    return product_create(sku="KETTLE", name="Chef's kettle", on_hand=5)


def test_order_placed(client, kettle, grinder):
    Inbound.objects.create(
        product=grinder,
        quantity=10,
        expected_date=timezone.localdate() + datetime.timedelta(days=8),
    )
    order = order_create({kettle: 1, grinder: 2}, shipping_preference="ship_all_together")
    (message,) = sent("order-placed")
    assert message.to == ["shopper@example.com"]
    assert message.subject == f"Order {order.number} received (includes back-ordered items)"
    eta = timezone.localdate() + datetime.timedelta(days=8)
    assert "1 in stock and reserved for you" in message.body
    assert f"2 on back-order, number 1 in the queue; expected by {eta:%-d %B %Y}" in message.body
    assert "Ship everything together when all is in" in message.body
    assert "cancel back-ordered units" in message.body
    assert "Chef&#x27;s" not in message.subject + message.body
    assert_link_works(client, message, "/orders/")


def test_backorder_allocated_says_whether_it_ships_now(client, kettle, grinder):
    together = order_create({kettle: 1, grinder: 1}, shipping_preference="ship_all_together")
    ready_now = order_create({grinder: 1})
    stock_receive(product=grinder, quantity=2)
    backorders_allocate(product_id=grinder.pk)
    for email in OutboxEmail.objects.filter(event="backorder_allocated"):
        emails_deliver(email_ids=[email.pk])
    by_order = {m.body.split("order ")[1].split(".")[0]: m for m in sent("backorder-allocated")}
    assert "They will ship now." in by_order[ready_now.number].body
    assert "They will ship now." in by_order[together.number].body  # nothing else waits
    assert by_order[together.number].subject == (
        f"Good news: your back-ordered Burr grinder for order {together.number} is reserved"
    )
    assert_link_works(client, by_order[ready_now.number], "/orders/")


def test_backorder_allocated_waits_for_the_rest_when_shipping_together(kettle, grinder):
    scale = product_create(sku="SCALE", name="Scale")
    order_create({grinder: 1, scale: 1}, shipping_preference="ship_all_together")
    stock_receive(product=grinder, quantity=1)
    backorders_allocate(product_id=grinder.pk)
    email = OutboxEmail.objects.get(event="backorder_allocated")
    emails_deliver(email_ids=[email.pk])
    (message,) = sent("backorder-allocated")
    assert "ship together with the rest of your order when it arrives" in message.body


def test_shipped_says_what_shipped_and_what_still_waits(client, kettle, grinder, run_on_commit):
    order = order_create({kettle: 2, grinder: 1})
    run_on_commit(order_ship, order=order)
    (message,) = sent("shipped")
    assert message.subject == f"Order {order.number} has shipped (in part)"
    assert "- 2 × Chef's kettle" in message.body
    assert "1 × Burr grinder still on back-order, number 1 in the queue" in message.body
    assert "date not yet confirmed (usually 21 days)" in message.body
    assert_link_works(client, message, "/orders/")


def test_cancelled_by_customer_and_by_staff_with_reason(client, grinder, run_on_commit):
    mine = order_create({grinder: 2})
    theirs = order_create({grinder: 1}, email="other@example.com")
    run_on_commit(order_cancel_backorders, order=mine, line_ids=[mine.lines.get().pk])
    run_on_commit(
        order_cancel_backorders,
        order=theirs,
        line_ids=[theirs.lines.get().pk],
        reason="The maker has stopped producing it.",
        by_staff=True,
    )
    by_customer, by_staff = sent("backorder-cancelled")
    assert by_customer.to == ["shopper@example.com"]
    assert "As you asked, we have cancelled" in by_customer.body
    assert "- 2 × Burr grinder" in by_customer.body
    assert by_staff.to == ["other@example.com"]
    assert "we have had to cancel" in by_staff.body
    assert "Why: The maker has stopped producing it." in by_staff.body
    assert_link_works(client, by_staff, "/orders/")


def test_reminder_once_per_period(settings, grinder, client):
    settings.BACKORDER_REMINDER_DAYS = 14
    old = order_create({grinder: 1})
    new = order_create({grinder: 1}, email="new@example.com")
    OrderLine.objects.filter(order=old).update(
        queued_at=timezone.now() - datetime.timedelta(days=15)
    )
    assert backorder_reminders_queue() == 1
    assert backorder_reminders_queue() == 0  # same period: nothing more
    OrderLine.objects.filter(order=old).update(
        queued_at=timezone.now() - datetime.timedelta(days=29)
    )
    assert backorder_reminders_queue() == 1  # the next period
    keys = sorted(
        OutboxEmail.objects.filter(event="backorder_reminder").values_list("key", flat=True)
    )
    assert keys == [f"backorder-reminder:{old.pk}:1", f"backorder-reminder:{old.pk}:2"]
    assert not OutboxEmail.objects.filter(event="backorder_reminder", to_email=new.email).exists()
    email = OutboxEmail.objects.filter(event="backorder_reminder").first()
    emails_deliver(email_ids=[email.pk])
    (message,) = sent("backorder-reminder")
    assert message.subject == f"Still waiting: your back-order on order {old.number}"
    assert "number 1 in the queue" in message.body and "cancel" in message.body
    assert f"Order total: ${old.lines.get().line_total}." in message.body
    assert_link_works(client, message, "/orders/")


def test_reminder_leaves_out_orders_no_longer_waiting(settings, grinder):
    order = order_create({grinder: 1})
    OrderLine.objects.filter(order=order).update(
        queued_at=timezone.now() - datetime.timedelta(days=20)
    )
    order_cancel_backorders(order=order, line_ids=[order.lines.get().pk])
    assert backorder_reminders_queue() == 0


def test_back_in_stock_tells_sign_ups_in_order_and_no_more_than_units(client, run_on_commit):
    timer = product_create(sku="TIMER", name="Kitchen timer", policy=BackorderPolicy.DENY)
    for name in ("first", "second", "third"):
        assert back_in_stock_signup(product=timer, email=f"{name}@example.com") is True
    assert back_in_stock_signup(product=timer, email="FIRST@example.com") is False
    run_on_commit(stock_receive, product=timer, quantity=2)
    told = [m.to[0] for m in sent("back-in-stock")]
    assert told == ["first@example.com", "second@example.com"]
    assert sent("back-in-stock")[0].subject == "Kitchen timer is back in stock"
    assert_link_works(client, sent("back-in-stock")[0], "/products/")
    run_on_commit(stock_receive, product=timer, quantity=1)
    assert [m.to[0] for m in sent("back-in-stock")][2:] == ["third@example.com"]
    assert BackInStockSignup.objects.filter(notified_at=None).count() == 0


def test_sign_up_from_the_product_page(client):
    timer = product_create(sku="TIMER", name="Kitchen timer", policy=BackorderPolicy.DENY)
    page = client.get("/products/timer/").content.decode()
    assert "Email me once when it is back in stock." in page
    response = client.post("/products/timer/notify-me/", {"email": "sam@example.com"})
    assert response.status_code == 302
    assert BackInStockSignup.objects.get().email == "sam@example.com"
    response = client.post("/products/timer/notify-me/", {"email": "not an email"})
    assert response.status_code == 400
    assert BackInStockSignup.objects.count() == 1
    product_create(sku="KETTLE", on_hand=1)
    client.post("/products/kettle/notify-me/", {"email": "sam@example.com"})
    assert BackInStockSignup.objects.filter(product__sku="KETTLE").count() == 0
    assert timer.back_in_stock_signups.count() == 1
