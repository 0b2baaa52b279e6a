"""What a newcomer read and found wanting (issue 11, 'What was seen'): each page says
plainly what happens, and never contradicts itself."""

import re
from decimal import Decimal

import pytest
from django.core import mail

from backorders.services import stock_receive
from catalog.models import Product
from catalog.policy import BackorderPolicy
from orders.services import order_cancel_backorders, order_ship
from tests.factories import CARD, order_create, product_create

pytestmark = pytest.mark.django_db

DETAILS = {"email": "sam@example.com", "name": "Sam", "shipping_address": "1 Queue Street", **CARD}


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


def test_a_back_order_discount_is_shown_before_and_applied_only_to_back_ordered_units(
    client, run_on_commit
):
    grinder = product_create(sku="GRINDER", name="Grinder", on_hand=1, price="150.00")
    Product.objects.filter(pk=grinder.pk).update(backorder_discount_percent=10)
    page = client.get(grinder.get_absolute_url()).content.decode()
    assert "10% off every unit you back-order ($15.00 each)" in page
    client.post("/cart/add/", {"product_id": grinder.pk, "quantity": 3})  # 1 now, 2 wait
    assert "−$30.00 back-order discount" in client.get("/cart/").content.decode()
    checkout = client.get("/checkout/").content.decode()
    assert "−$30.00: 10% off the back-ordered units" in checkout
    # A forged form cannot raise it: placement computes it from the split it makes.
    form = {**DETAILS, "accept_backorder": "on", "discount": "9999"}
    response = run_on_commit(client.post, "/checkout/", form, follow=True)
    order = response.context["order"]
    (line,) = order.lines.all()
    assert (line.backorder_unit_discount, line.discount, line.line_total) == (
        Decimal("15.00"),
        Decimal("30.00"),
        Decimal("420.00"),
    )
    data = client.get(f"/orders/{order.token}/status.json").json()["lines"][0]
    assert (data["unit_price"], data["discount"]) == ("150.00", "30.00")
    run_on_commit(stock_receive, product=grinder, quantity=2)  # kept when allocated
    line.refresh_from_db()
    assert (line.allocated, line.discount) == (3, Decimal("30.00"))


def test_cancelled_back_ordered_units_take_their_discount_and_price_with_them(client):
    grinder = product_create(sku="GRINDER", name="Grinder", price="100.00")
    Product.objects.filter(pk=grinder.pk).update(backorder_discount_percent=10)
    grinder.refresh_from_db()
    order = order_create({grinder: 2})
    line = order.lines.get()
    assert line.line_total == Decimal("180.00")
    client.post(f"/orders/{order.token}/lines/{line.pk}/cancel/", {"units": 1, "confirm": "on"})
    line.refresh_from_db()
    assert (line.discount, line.line_total) == (Decimal("10.00"), Decimal("90.00"))


def test_a_waiting_product_suggests_its_alternatives_that_are_in_stock(client, run_on_commit):
    grinder = product_create(sku="GRINDER", name="Grinder")  # back-order only
    hand = product_create(sku="HAND", name="Hand grinder", on_hand=2, price="40.00")
    gone = product_create(sku="GONE", name="Old grinder")  # no stock: never suggested
    grinder.alternatives.set([hand, gone])
    page = client.get(grinder.get_absolute_url()).content.decode()
    assert "In stock now instead" in page and "Hand grinder</a>, $40.00" in page
    assert "Old grinder" not in page
    client.post("/cart/add/", {"product_id": grinder.pk, "quantity": 1})
    cart = client.get("/cart/").content.decode()
    assert "Add Hand grinder to cart" in cart
    client.post("/cart/add/", {"product_id": hand.pk, "quantity": 1})  # the one click
    assert "Hand grinder: 1 in your cart." in client.get("/cart/").content.decode()
    # Sold out since: it drops from the suggestion.
    run_on_commit(order_create, {hand: 2})
    assert "In stock now instead" not in client.get(grinder.get_absolute_url()).content.decode()


def test_an_in_stock_product_suggests_nothing(client):
    kettle = product_create(sku="KETTLE", name="Kettle", on_hand=2)
    other = product_create(sku="OTHER", name="Other kettle", on_hand=2)
    kettle.alternatives.set([other])
    assert "In stock now instead" not in client.get(kettle.get_absolute_url()).content.decode()


def test_shipped_and_cancelled_emails_say_what_the_order_costs_now(client, run_on_commit):
    kettle = product_create(sku="KETTLE", name="Kettle", on_hand=1, price="20.00")
    order = order_create({kettle: 3})  # 1 ships now, 2 wait
    line = order.lines.get()
    run_on_commit(order_cancel_backorders, order=order, line_ids=[line.pk], units=1)
    run_on_commit(order_ship, order=order)
    cancelled, shipped = (
        next(m for m in mail.outbox if word in m.subject) for word in ("cancelled", "shipped")
    )
    assert "the order's total is now $40.00" in cancelled.body
    assert "Order total: $40.00" in shipped.body and "1 Queue Street" in shipped.body


# Words of the store's engine, not of its shoppers.
JARGON = ["allocated", "allocate", "What checkout would do", "backordered"]


def test_no_shopper_page_speaks_the_engines_words(client, run_on_commit):
    kettle = product_create(sku="KETTLE", name="Kettle", on_hand=1)
    order = order_create({kettle: 2})  # one reserved, one waiting
    client.post("/cart/add/", {"product_id": kettle.pk, "quantity": 2})
    pages = ["/", kettle.get_absolute_url(), "/cart/", "/checkout/", order.get_absolute_url()]
    for url in pages:
        html = client.get(url).content.decode()
        text = re.sub(r"<[^>]+>", " ", html.split("<main", 1)[1])  # what a shopper reads
        for word in JARGON:
            assert word not in text, f"{url} says {word!r}"
