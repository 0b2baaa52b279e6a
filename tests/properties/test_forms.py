"""Every shop form driven with generated bad values: a form error (400, or 429 once rate
limited), never a 5xx, and nothing in the database changed."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.factories import CARD
from tests.properties import strategies as domain
from tests.properties.checks import answered_without_error, case, refused_and_unchanged, state

pytestmark = pytest.mark.django_db


@given(product_id=domain.quantities(), quantity=domain.quantities())
def test_cart_add_and_update(client, store, product_id, quantity):
    case("cart")
    before = state()
    for url in ("/cart/add/", "/cart/update/"):
        response = client.post(url, {"product_id": product_id, "quantity": quantity})
        answered_without_error(response)
        assert response.status_code in (302, 400, 404)
        assert state() == before  # the cart lives in the session


def checkout_page(client, store) -> dict[str, str]:
    client.post("/cart/add/", {"product_id": store["mill"].pk, "quantity": 1})
    page = client.get("/checkout/").content.decode()
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page))


@given(
    email=domain.emails(),
    name=st.one_of(domain.hostile_text(), domain.long_text()),
    address=domain.addresses(),
    preference=st.one_of(st.just("ship_ready_now"), domain.hostile_text()),
    key=st.one_of(st.none(), domain.tokens()),
)
def test_checkout(client, store, email, name, address, preference, key):
    case("checkout")
    form = checkout_page(client, store)
    if key is not None:
        form["checkout_key"] = key
    before = state()
    response = client.post(
        "/checkout/",
        {
            **form,
            "email": email,
            "name": name,
            "shipping_address": address,
            "shipping_preference": preference,
            "accept_backorder": "on",
            **CARD,
        },
    )
    answered_without_error(response)
    if response.status_code != 302:
        refused_and_unchanged(response, before, refused=(400,))


@given(number=st.one_of(domain.quantities(), domain.hostile_text()), email=domain.emails())
def test_order_lookup(client, store, number, email):
    case("order lookup")
    before = state()
    response = client.post("/orders/lookup/", {"number": number, "email": email})
    refused_and_unchanged(response, before, refused=(400, 429))


@given(email=domain.emails())
def test_back_in_stock_signup(client, store, email):
    case("back-in-stock sign-up")
    before = state()
    response = client.post(f"/products/{store['timer'].slug}/notify-me/", {"email": email})
    answered_without_error(response)
    if response.status_code != 302:
        refused_and_unchanged(response, before, refused=(400, 429))


@given(email=domain.emails())
def test_orders_by_email(client, store, email):
    case("email me my orders")
    before = state()
    response = client.post("/orders/find/", {"email": email})
    answered_without_error(response)
    if response.status_code != 302:  # a valid address: the same answer, whoever it is
        refused_and_unchanged(response, before, refused=(400, 429))


def card_values():
    return st.one_of(domain.hostile_text(), domain.long_text(), domain.quantities())


@given(number=card_values(), expiry=card_values(), cvc=card_values())
def test_checkout_card_fields(client, store, number, expiry, cvc):
    case("checkout card")
    form = checkout_page(client, store)
    before = state()
    card = {"card_number": number, "card_expiry": expiry, "card_cvc": cvc}
    response = client.post(
        "/checkout/",
        {**form, "email": "a@b.co", "name": "A", "shipping_address": "1 A", **card},
    )
    answered_without_error(response)
    if response.status_code != 302:  # only a test card that pays places an order
        refused_and_unchanged(response, before, refused=(400,))


@given(number=card_values(), expiry=card_values(), cvc=card_values())
def test_pay_due_card_fields(client, store, number, expiry, cvc):
    case("pay what is due")
    before = state()
    card = {"card_number": number, "card_expiry": expiry, "card_cvc": cvc}
    response = client.post(f"{store['order'].get_absolute_url()}pay/", card)
    # Nothing is due on the store's order: a valid card changes nothing either.
    refused_and_unchanged(response, before, refused=(302, 400))
