"""Charge what ships, refund what does not (issue 9): the checkout charge, the charge
when back-ordered units arrive, a failed charge's hold, refunds, and that the money
always adds up (check_inventory's payment check)."""

import datetime
from decimal import Decimal

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from backorders.services import inbound_announce, inbound_cancel, stock_receive
from catalog.models import StockMovement
from notifications.models import OutboxEmail
from orders.billing import (
    STALLED_AFTER,
    order_charge_due,
    order_checkout,
    order_line_return,
    order_pay_due,
    payment_holds_expire,
    payments_stalled_resume,
)
from orders.exceptions import ChargeChanged, NothingToShip
from orders.models import DelayNotice, Order
from orders.selectors import order_money, payment_problems
from orders.services import (
    delay_notice_answer,
    delay_notices_expire,
    order_cancel_backorders,
    order_lines_cancel_by_staff,
    order_ship,
)
from payments.exceptions import PaymentDeclined
from payments.models import Payment
from payments.providers import CardInput
from payments.providers.test import TestProvider
from tests.factories import CARD, order_checkout_create, product_create

pytestmark = pytest.mark.django_db

DECLINED = "4000 0000 0000 0002"
NO_FUNDS = "4000 0000 0000 9995"
FAILS_LATER = "4000 0000 0000 0341"


@pytest.fixture
def lamp(db):
    return product_create(sku="LAMP", name="Lamp", price="25.00", on_hand=2)


@pytest.fixture
def calls(monkeypatch):
    """Every call the store makes to the (real) test provider, in order."""
    made = []
    for verb in ("method_save", "charge", "refund"):
        real = getattr(TestProvider, verb)

        def spy(self, *args, _real=real, _verb=verb, **kwargs):
            made.append((_verb, kwargs.get("amount")))
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(TestProvider, verb, spy)
    return made


def money(order) -> dict:
    return order_money(order=Order.objects.get(pk=order.pk)).as_json()


def receive(product, quantity, run_on_commit):
    run_on_commit(stock_receive, product=product, quantity=quantity, reference="PO")


def test_an_in_stock_order_is_charged_at_checkout(lamp, calls):
    order = order_checkout_create({lamp: 2})
    (charge,) = order.payments.all()
    assert (charge.kind, charge.status, charge.amount) == ("charge", "succeeded", Decimal("50.00"))
    assert charge.card_last4 == "4242" and not charge.off_session
    assert charge.units == {str(order.lines.get().pk): 2}
    assert order.card_last4 == "4242" and "4242424242424242" not in str(vars(order))
    assert money(order) == {
        "currency": "USD",
        "total": "50.00",
        "paid": "50.00",
        "refunded": "0.00",
        "due_on_shipment": "0.00",
    }
    assert calls == [("method_save", None), ("charge", 5000)]
    assert order_ship(order=order) == 2
    assert payment_problems() == []


def test_a_mixed_order_charges_the_back_ordered_part_when_it_arrives(lamp, run_on_commit, calls):
    order = order_checkout_create({lamp: 3})
    assert money(order)["paid"] == "50.00"
    assert money(order)["due_on_shipment"] == "25.00"
    assert order_ship(order=order) == 2  # what is paid ships; the rest waits
    receive(lamp, 1, run_on_commit)  # allocates the waiting unit and charges it
    line = order.lines.get()
    assert (line.allocated, line.paid, line.shipped) == (1, 3, 2)
    later = order.payments.get(off_session=True)
    assert (later.status, later.amount, later.units) == (
        "succeeded",
        Decimal("25.00"),
        {str(line.pk): 1},
    )
    assert money(order)["paid"] == "75.00" and money(order)["due_on_shipment"] == "0.00"
    assert calls[-1] == ("charge", 2500)
    assert order_ship(order=order) == 1
    assert payment_problems() == []


def test_the_arrival_email_says_what_the_units_cost_and_which_card_pays(run_on_commit):
    grinder = product_create(sku="GRINDER", name="Grinder", price="100.00")
    grinder.backorder_discount_percent = 10
    grinder.save(update_fields=["backorder_discount_percent"])
    order_checkout_create({grinder: 2})
    mail.outbox.clear()
    receive(grinder, 2, run_on_commit)
    (email,) = [m for m in mail.outbox if "reserved" in m.subject or "arrived" in m.body]
    assert "2 × Grinder (SKU GRINDER) at $90.00: $180.00" in email.body
    assert "charging this to your card ending 4242" in email.body


def test_the_back_order_discount_is_charged_off_the_back_ordered_units_only(run_on_commit):
    grinder = product_create(sku="GRINDER", price="100.00", on_hand=1)
    grinder.backorder_discount_percent = 10
    grinder.save(update_fields=["backorder_discount_percent"])
    order = order_checkout_create({grinder: 2})
    assert order.payments.get().amount == Decimal("100.00")
    assert money(order)["due_on_shipment"] == "90.00"
    receive(grinder, 1, run_on_commit)
    assert order.payments.get(off_session=True).amount == Decimal("90.00")
    assert money(order) | {"paid": "190.00", "due_on_shipment": "0.00"} == money(order)


@pytest.mark.parametrize(
    ("number", "message"),
    [(DECLINED, "declined"), (NO_FUNDS, "insufficient funds"), (FAILS_LATER, "declined")],
)
def test_a_declined_card_at_checkout_saves_nothing(lamp, number, message):
    movements = StockMovement.objects.count()
    with pytest.raises(PaymentDeclined, match=message):
        order_checkout_create({lamp: 1}, card_number=number)
    assert not Order.objects.exists() and not Payment.objects.exists()
    assert StockMovement.objects.count() == movements and not OutboxEmail.objects.exists()
    lamp.refresh_from_db()
    assert lamp.allocated == 0


def test_a_card_that_fails_later_is_held_then_released_to_the_next_customer(
    lamp, run_on_commit, monkeypatch
):
    # 0341 saves, but fails every charge: at checkout it pays for nothing in stock.
    with pytest.raises(PaymentDeclined):
        order_checkout_create({lamp: 1}, card_number=FAILS_LATER)
    tent = product_create(sku="TENT", name="Tent", price="40.00")
    held = order_checkout_create({tent: 1}, card_number=FAILS_LATER, email="h@x.io")
    behind = order_checkout_create({tent: 1}, email="next@example.com")
    mail.outbox.clear()
    receive(tent, 1, run_on_commit)
    held.refresh_from_db()
    assert held.payment_due_by == timezone.localdate() + datetime.timedelta(days=3)
    failed = held.payments.get()
    assert (failed.status, failed.error) == ("failed", "Your card was declined.")
    (email,) = [m for m in mail.outbox if "payment failed" in m.subject]
    assert email.to == ["h@x.io"] and held.get_absolute_url() in email.body
    with pytest.raises(NothingToShip, match="not paid"):
        order_ship(order=held)
    assert order_charge_due(order_id=held.pk) is None  # no second try on a failing card
    # The hold passes unpaid: the unit goes to the next customer, who is charged.
    monkeypatch.setattr(
        "django.utils.timezone.localdate", lambda *a: datetime.date.today() + datetime.timedelta(4)
    )
    assert run_on_commit(payment_holds_expire) == 1
    line = held.lines.get()
    assert (line.allocated, line.cancelled, line.paid) == (0, 1, 0)
    next_line = behind.lines.get()
    assert (next_line.allocated, next_line.paid) == (1, 1)
    assert [m.to for m in mail.outbox if "cancelled" in m.subject] == [["h@x.io"]]
    assert money(held) | {"total": "0.00", "paid": "0.00", "due_on_shipment": "0.00"} == money(held)
    assert run_on_commit(payment_holds_expire) == 0  # once
    assert payment_problems() == []
    call_command("check_inventory")


def test_a_held_order_paid_with_another_card_ships(run_on_commit):
    tent = product_create(sku="TENT", name="Tent", price="40.00")
    held = order_checkout_create({tent: 1}, card_number=FAILS_LATER)
    receive(tent, 1, run_on_commit)
    with pytest.raises(PaymentDeclined):
        order_pay_due(order=held, card=CardInput(number=NO_FUNDS))
    charge = run_on_commit(order_pay_due, order=held, card=CardInput(number=CARD["card_number"]))
    held.refresh_from_db()
    assert (charge.amount, held.card_last4, held.payment_due_by) == (Decimal("40.00"), "4242", None)
    assert order_ship(order=held) == 1
    assert payment_problems() == []


def test_the_pay_page_takes_another_card(client, run_on_commit):
    tent = product_create(sku="TENT", name="Tent", price="40.00")
    held = order_checkout_create({tent: 1}, card_number=FAILS_LATER)
    receive(tent, 1, run_on_commit)
    page = client.get(held.get_absolute_url()).content.decode()
    assert "could not charge $40.00 to your card ending 0341" in page
    response = client.post(f"{held.get_absolute_url()}pay/", {**CARD, "card_number": DECLINED})
    assert response.status_code == 400 and "declined" in response.content.decode()
    response = client.post(f"{held.get_absolute_url()}pay/", CARD)
    assert response.status_code == 302
    assert client.get(held.get_absolute_url() + "status.json").json()["paid"] == "40.00"


def cancellations(product, run_on_commit, monkeypatch):
    """Each way waiting units are cancelled: (name, order) after it happened."""
    customer = order_checkout_create({product: 3}, email="c@x.io")
    run_on_commit(
        order_cancel_backorders, order=customer, line_ids=[customer.lines.get().pk], units=1
    )
    yield "customer", customer
    staff = order_checkout_create({product: 1}, email="s@x.io")
    run_on_commit(
        order_lines_cancel_by_staff, line_ids=[staff.lines.get().pk], reason="Discontinued"
    )
    yield "staff", staff
    inbound = run_on_commit(
        inbound_announce,
        product=product,
        quantity=10,
        expected_date=timezone.localdate() + datetime.timedelta(10),
        reference="PO-9",
    )
    answered = order_checkout_create({product: 1}, email="a@x.io")
    silent = order_checkout_create({product: 1}, email="q@x.io")
    run_on_commit(inbound_cancel, inbound=inbound)  # a delay that needs consent
    notice = DelayNotice.objects.get(line__order=answered)
    run_on_commit(delay_notice_answer, order=answered, notice_id=notice.pk, answer="cancel")
    yield "delay answered", answered
    monkeypatch.setattr(
        "django.utils.timezone.localdate", lambda *a: datetime.date.today() + datetime.timedelta(40)
    )
    run_on_commit(delay_notices_expire)
    yield "delay unanswered", silent


def test_no_cancellation_refunds_more_than_was_paid_for_the_units(lamp, run_on_commit, monkeypatch):
    """Waiting units are never charged, so every cancellation path refunds nothing and
    the order's figures drop by what was cancelled; what was paid stays paid."""
    seen = []
    for name, order in cancellations(lamp, run_on_commit, monkeypatch):
        seen.append(name)
        figures = money(order)
        line = order.lines.get()
        assert line.cancelled >= 1, name
        assert figures["refunded"] == "0.00", name
        assert Decimal(figures["paid"]) == line.units_value(0, line.paid), name
        assert Decimal(figures["total"]) == Decimal(figures["paid"]) + Decimal(
            figures["due_on_shipment"]
        ), name
        assert not order.payments.filter(kind="refund").exists(), name
    assert seen == ["customer", "staff", "delay answered", "delay unanswered"]
    assert payment_problems() == []


def test_a_return_refunds_what_the_units_cost_once(lamp, run_on_commit, calls):
    order = order_checkout_create({lamp: 2})
    order_ship(order=order)
    line = order.lines.get()
    amount = run_on_commit(order_line_return, line=line, units=1, reason="Arrived cracked")
    assert amount == Decimal("25.00")
    (refund,) = order.payments.filter(kind="refund")
    assert (refund.status, refund.amount, refund.reason) == ("succeeded", amount, "Arrived cracked")
    assert refund.refund_of == order.payments.get(kind="charge")
    assert money(order) | {"total": "25.00", "refunded": "25.00"} == money(order)
    assert calls.count(("refund", 2500)) == 1
    assert [m for m in mail.outbox if "$25.00 refunded" in m.subject]
    with pytest.raises(Exception, match="1 shipped unit"):
        order_line_return(line=line, units=2, reason="Again")
    assert payment_problems() == []


def test_a_retried_charge_task_charges_once(run_on_commit, calls):
    tent = product_create(sku="TENT", name="Tent", price="40.00")
    order = order_checkout_create({tent: 1})
    receive(tent, 1, run_on_commit)  # the charge task ran once, after commit
    assert order_charge_due(order_id=order.pk) is None  # a retry, or a second worker
    assert calls.count(("charge", 4000)) == 1
    assert order.payments.filter(kind="charge").count() == 1


def test_a_charge_a_dead_worker_left_pending_is_finished_by_the_sweep(
    run_on_commit, calls, monkeypatch
):
    tent = product_create(sku="TENT", name="Tent", price="40.00")
    order = order_checkout_create({tent: 1})
    # The worker dies after claiming the charge and before recording its outcome.
    monkeypatch.setattr("orders.billing.payment_call", lambda payment: exit_worker())
    with pytest.raises(SystemExit):
        receive(tent, 1, run_on_commit)
    monkeypatch.undo()
    pending = order.payments.get(status="pending")
    assert payment_problems() == []  # not yet overdue
    Payment.objects.filter(pk=pending.pk).update(created_at=timezone.now() - STALLED_AFTER * 2)
    assert payments_stalled_resume() == 1
    pending.refresh_from_db()
    assert pending.status == "succeeded" and order.lines.get().paid == 1
    assert payments_stalled_resume() == 0
    assert payment_problems() == []


def exit_worker():
    raise SystemExit("worker killed")


def test_a_checkout_charge_is_refunded_when_placement_refuses(lamp, run_on_commit):
    """Stock changed between the page's read and the placement's lock: the charge made
    for what the page showed is given back in full, and the shopper is asked again."""
    order_checkout_create({lamp: 1}, email="quick@example.com")  # takes one meanwhile
    with pytest.raises(ChargeChanged, match=r"would be \$25.00, not \$50.00"):
        run_on_commit(
            order_checkout,
            quantities={lamp.pk: 2},
            card=CardInput(number=CARD["card_number"]),
            charge_now=Decimal("50.00"),  # what the page showed: 2 in stock
            email="slow@example.com",
            name="Sam Slow",
            shipping_address="1 Late Lane",
            backorder_accepted=True,
        )
    void = Payment.objects.get(order=None, kind="charge")
    assert (void.amount, void.status) == (Decimal("50.00"), "succeeded")
    (refund,) = void.refunds.all()
    assert (refund.status, refund.amount) == ("succeeded", void.amount)
    assert not Order.objects.filter(email="slow@example.com").exists()
    assert payment_problems() == []


def test_payment_problems_name_money_that_does_not_add_up(lamp):
    order = order_checkout_create({lamp: 1})
    Payment.objects.filter(order=order).update(amount=Decimal("24.00"))
    (problem,) = payment_problems()
    assert f"order {order.number} was charged 24.00" in problem and "worth 25.00" in problem


def test_staff_see_the_payments_and_refund_a_return_from_the_admin(admin_client, client, lamp):
    order = order_checkout_create({lamp: 2})
    order_ship(order=order)
    page = admin_client.get(f"/admin/orders/order/{order.pk}/change/").content.decode()
    assert "Card ending 4242" in page and "charged 50.00" in page and "Refund a return" in page
    url = f"/admin/orders/order/{order.pk}/return/"
    line = order.lines.get()
    refused = admin_client.post(url, {"line": line.pk, "units": 3, "reason": "Too many"})
    assert refused.status_code == 400 and "2 shipped unit(s)" in refused.content.decode()
    assert admin_client.post(url, {"line": line.pk, "units": 1, "reason": ""}).status_code == 400
    response = admin_client.post(url, {"line": line.pk, "units": 1, "reason": "Dented"})
    assert response.status_code == 302
    assert order.payments.get(kind="refund").amount == Decimal("25.00")
    assert client.get(url).status_code == 302  # to the login page: staff only
    assert payment_problems() == []
