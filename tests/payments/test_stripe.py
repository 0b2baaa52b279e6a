"""The Stripe provider against a real Stripe API server (localstripe), not mocks:
the card saved by a SetupIntent as Stripe.js does it, charges at checkout and
off-session, refunds, and webhooks verified with the signing secret."""

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from decimal import Decimal

import pytest

from backorders.services import stock_receive
from orders.billing import order_line_return
from orders.models import Order
from orders.selectors import payment_problems
from orders.services import order_ship
from payments.exceptions import PaymentDeclined
from payments.models import Payment
from payments.providers import CardInput
from tests.factories import order_checkout_create, product_create

pytestmark = pytest.mark.django_db


def card_saved(provider, email: str, number: str) -> str:
    """What Stripe.js does in the browser: confirm a SetupIntent the store made for the
    email with the typed card. Returns the SetupIntent's id (the form's token)."""
    secret = provider.card_setup_begin(email=email)
    setup_id = secret.split("_secret_")[0]
    body = json.dumps(
        {
            "key": "pk_test_storefront",
            "use_stripe_sdk": True,
            "client_secret": secret,
            "payment_method_data": {
                "type": "card",
                "card": {"number": number, "exp_month": "12", "exp_year": "2039", "cvc": "123"},
            },
        }
    ).encode()
    url = f"{provider.client._requestor.base_addresses['api']}/v1/setup_intents/{setup_id}/confirm"
    try:
        urllib.request.urlopen(urllib.request.Request(url, data=body, method="POST"), timeout=10)
    except urllib.error.HTTPError as refused:
        assert refused.code == 402  # declined when saved, as on Stripe
    return setup_id


def checkout(provider, quantities, number="4242424242424242", email="pat@example.com"):
    token = card_saved(provider, email, number)
    return order_checkout_create(quantities, card=CardInput(token=token), email=email)


@pytest.fixture
def lamp(db):
    return product_create(sku="LAMP", name="Lamp", price="25.00", on_hand=2)


def test_a_mixed_order_is_charged_at_checkout_then_off_session_and_refunds(
    stripe_provider, lamp, run_on_commit
):
    order = checkout(stripe_provider, {lamp: 3})
    first = order.payments.get()
    assert first.provider == "stripe" and first.provider_id.startswith("pi_")
    intent = stripe_provider.client.v1.payment_intents.retrieve(first.provider_id)
    assert (intent.status, intent.amount, intent.currency) == ("succeeded", 5000, "usd")
    assert intent.customer == order.payment_customer and order.card_last4 == "4242"
    run_on_commit(order_ship, order=order)
    run_on_commit(stock_receive, product=lamp, quantity=1, reference="PO-1")
    later = order.payments.get(off_session=True)
    assert later.status == "succeeded" and later.amount == Decimal("25.00")
    assert stripe_provider.client.v1.payment_intents.retrieve(later.provider_id).amount == 2500
    run_on_commit(order_ship, order=order)
    amount = run_on_commit(
        order_line_return, line=order.lines.get(), units=1, reason="Arrived bent"
    )
    refund = order.payments.get(kind="refund")
    assert refund.status == "succeeded" and refund.provider_id.startswith("re_")
    assert stripe_provider.client.v1.refunds.retrieve(refund.provider_id).amount == 2500
    assert amount == Decimal("25.00") and payment_problems() == []


def test_a_card_declined_when_saved_places_nothing(stripe_provider, lamp):
    with pytest.raises(PaymentDeclined, match="not saved"):
        checkout(stripe_provider, {lamp: 1}, number="4000000000000002")
    assert not Order.objects.exists() and not Payment.objects.exists()


def test_a_token_for_another_email_is_refused(stripe_provider, lamp):
    token = card_saved(stripe_provider, "someone@example.com", "4242424242424242")
    with pytest.raises(PaymentDeclined):
        order_checkout_create({lamp: 1}, card=CardInput(token=token), email="me@example.com")
    assert not Order.objects.exists()


def test_a_card_that_fails_later_holds_the_units(stripe_provider, run_on_commit):
    tent = product_create(sku="TENT", price="40.00")
    order = checkout(stripe_provider, {tent: 1}, number="4000000000000341")
    assert order.card_last4 == "0341" and not order.payments.exists()
    run_on_commit(stock_receive, product=tent, quantity=1, reference="PO-2")
    failed = order.payments.get()
    assert failed.status == "failed" and "declined" in failed.error
    order.refresh_from_db()
    assert order.payment_due_by is not None


def worker_killed(payment):
    raise SystemExit("worker killed")


def signed(payload: bytes, secret: str, at: int | None = None) -> str:
    at = at or int(time.time())
    digest = hmac.new(secret.encode(), f"{at}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


def test_a_webhook_settles_a_charge_left_pending_and_a_bad_signature_changes_nothing(
    stripe_provider, client, run_on_commit, monkeypatch
):
    tent = product_create(sku="TENT", price="40.00")
    order = checkout(stripe_provider, {tent: 1})
    # A worker dies after claiming the charge: the row stays pending.
    monkeypatch.setattr("orders.billing.payment_call", worker_killed)
    with pytest.raises(SystemExit):
        run_on_commit(stock_receive, product=tent, quantity=1, reference="PO-3")
    monkeypatch.undo()
    pending = order.payments.get(status="pending")
    event = {
        "id": "evt_1",
        "object": "event",
        "type": "payment_intent.succeeded",
        "data": {
            "object": {
                "id": "pi_from_webhook",
                "object": "payment_intent",
                "metadata": {"key": pending.idempotency_key},
            }
        },
    }
    payload = json.dumps(event).encode()
    url = "/payments/stripe/webhook/"
    wrong = client.post(
        url, payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=signed(payload, "x")
    )
    assert wrong.status_code == 400
    assert client.post(url, payload, content_type="application/json").status_code == 400
    pending.refresh_from_db()
    assert pending.status == "pending"
    right = client.post(
        url,
        payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signed(payload, "whsec_storefront_test"),
    )
    assert right.status_code == 200
    pending.refresh_from_db()
    assert (pending.status, pending.provider_id) == ("succeeded", "pi_from_webhook")
    assert order.lines.get().paid == 1
    # The same event again changes nothing more.
    assert (
        client.post(
            url,
            payload,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=signed(payload, "whsec_storefront_test"),
        ).status_code
        == 200
    )
    assert order.lines.get().paid == 1


def test_the_card_setup_endpoint_needs_csrf_and_an_email(stripe_provider):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    assert strict.post("/payments/stripe/setup/", {"email": "a@b.co"}).status_code == 403
    lax = Client()
    assert lax.post("/payments/stripe/setup/", {"email": "nope"}).status_code == 400
    answer = lax.post("/payments/stripe/setup/", {"email": "a@b.co"})
    assert answer.status_code == 200 and "_secret_" in answer.json()["client_secret"]
