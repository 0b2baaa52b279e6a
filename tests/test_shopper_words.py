"""What a newcomer read and found wanting (issue 11, 'What was seen'): each page says
plainly what happens, and never contradicts itself."""

import pytest

from catalog.policy import BackorderPolicy
from tests.factories import order_create, product_create

pytestmark = pytest.mark.django_db

DETAILS = {"email": "sam@example.com", "name": "Sam", "shipping_address": "1 Queue Street"}


def test_every_page_names_an_icon_and_the_old_address_finds_it(client):
    assert 'rel="icon" href="/static/favicon.svg"' in client.get("/").content.decode()
    response = client.get("/favicon.ico")
    assert (response.status_code, response["Location"]) == (301, "/static/favicon.svg")


def test_a_limited_product_says_how_many_more_can_be_back_ordered(client):
    lamp = product_create(sku="LAMP", on_hand=1, policy=BackorderPolicy.ALLOW_LIMITED, limit=4)
    text = client.get(lamp.get_absolute_url()).content.decode()
    assert "1 in stock; 4 more can be back-ordered." in text


def test_adding_more_than_can_be_bought_warns_instead_of_cheering(client):
    lamp = product_create(sku="LAMP", on_hand=1, policy=BackorderPolicy.ALLOW_LIMITED, limit=4)
    client.post("/cart/add/", {"product_id": lamp.pk, "quantity": 6})
    text = client.get("/cart/").content.decode()
    assert "Lamp has only 5 available; your cart has 6." in text
    assert "6 in your cart" not in text
    assert "Continue shopping" in text


def test_sold_out_is_said_so(client):
    timer = product_create(sku="TIMER", policy=BackorderPolicy.DENY)
    assert "Sold out" in client.get(timer.get_absolute_url()).content.decode()


def test_checkout_errors_say_which_field_and_why(client):
    kettle = product_create(sku="KETTLE", on_hand=3)
    client.post("/cart/add/", {"product_id": kettle.pk, "quantity": 1})
    text = client.post("/checkout/", {"email": "", "name": ""}).content.decode()
    assert "Enter your email: we send the confirmation there." in text
    assert "Enter the name to ship to." in text and "Enter the address to ship to." in text
    assert "This field is required." not in text


def test_the_confirmation_says_where_it_was_emailed(client):
    kettle = product_create(sku="KETTLE", on_hand=3)
    client.post("/cart/add/", {"product_id": kettle.pk, "quantity": 1})
    page = client.post("/checkout/", DETAILS, follow=True).content.decode()
    assert "is placed. We emailed the confirmation to sam@example.com." in page


def test_the_order_page_and_its_email_show_prices_total_address_and_email(client, mailoutbox):
    kettle = product_create(sku="KETTLE", name="Kettle", on_hand=1, price="12.50")
    order = order_create({kettle: 2}, email="sam@example.com")  # 1 in stock, 1 waits
    text = client.get(order.get_absolute_url()).content.decode()
    assert "$12.50 each" in text and "$25.00" in text
    assert "1 Queue Street" in text and "sam@example.com" in text
    (placed,) = [m for m in mailoutbox if "received" in m.subject]
    assert "at $12.50: $25.00" in placed.body and "Total: $25.00" in placed.body
    assert "1 Queue Street" in placed.body
