import datetime
import re

import pytest
from django.test import Client

from catalog.policy import BackorderPolicy
from notifications.models import OutboxEmail
from orders.models import Order
from tests.factories import CARD, order_create, product_create

pytestmark = pytest.mark.django_db

CHECKOUT = {
    "email": "sam@example.com",
    "name": "Sam Shopper",
    "shipping_address": "1 Queue Street",
    "shipping_preference": "ship_all_together",
    "accept_backorder": "on",
    **CARD,
}


def add(client, product, quantity=1):
    return client.post("/cart/add/", {"product_id": product.pk, "quantity": quantity})


def test_add_to_cart_and_change_quantity(client):
    kettle = product_create(sku="KETTLE", on_hand=5)
    assert add(client, kettle, 2).status_code == 302
    assert add(client, kettle, 1).status_code == 302
    response = client.get("/cart/")
    assert [(line.product, line.quantity) for line in response.context["lines"]] == [(kettle, 3)]
    client.post("/cart/update/", {"product_id": kettle.pk, "quantity": 0})
    assert client.get("/cart/").context["lines"] == []


@pytest.mark.parametrize("quantity", ["0", "-1", "abc", "100", ""])
def test_bad_quantity_is_400_and_changes_nothing(client, quantity):
    kettle = product_create(sku="KETTLE", on_hand=5)
    response = client.post("/cart/add/", {"product_id": kettle.pk, "quantity": quantity})
    assert response.status_code == 400
    assert b"Quantity" in response.content
    assert response.context["lines"] == []


def test_adding_an_unknown_product_is_404(client, db):
    assert client.post("/cart/add/", {"product_id": 999, "quantity": 1}).status_code == 404


def test_cart_pages_refuse_get_for_state_changes(client, db):
    assert client.get("/cart/add/").status_code == 405


def test_cart_marks_a_line_that_cannot_be_bought(client):
    timer = product_create(sku="TIMER", name="Timer", on_hand=1, policy=BackorderPolicy.DENY)
    add(client, timer, 3)
    response = client.get("/cart/")
    assert "Timer has only 1 available." in response.content.decode()
    assert response.context["can_check_out"] is False


def test_checkout_of_in_stock_cart_asks_no_back_order_questions(client):
    kettle = product_create(sku="KETTLE", on_hand=5)
    add(client, kettle)
    form = client.get("/checkout/").context["form"]
    assert "accept_backorder" not in form.fields and "shipping_preference" not in form.fields


def test_checkout_places_a_back_order_and_redirects_to_the_status_page(client, run_on_commit):
    grinder = product_create(sku="GRINDER", on_hand=1)
    add(client, grinder, 3)
    response = client.get("/checkout/")
    assert "2 on back-order" in response.content.decode()
    response = run_on_commit(client.post, "/checkout/", CHECKOUT)
    order = Order.objects.get()
    assert response.status_code == 302 and response.url == f"/orders/{order.token}/"
    assert order.shipping_preference == "ship_all_together" and order.backorder_accepted
    assert OutboxEmail.objects.get(event="order_placed").to_email == "sam@example.com"
    assert client.get("/cart/").context["lines"] == []


def test_checkout_without_accepting_the_back_order_is_refused(client):
    grinder = product_create(sku="GRINDER")
    add(client, grinder)
    response = client.post("/checkout/", {**CHECKOUT, "accept_backorder": ""})
    assert response.status_code == 400
    assert response.context["form"].errors["accept_backorder"]
    assert not Order.objects.exists()


def test_checkout_shows_a_refusal_when_stock_ran_out_meanwhile(client):
    timer = product_create(sku="TIMER", name="Timer", on_hand=2, policy=BackorderPolicy.DENY)
    add(client, timer, 2)
    order_create({timer: 1})  # someone else buys one first
    response = client.post("/checkout/", CHECKOUT)
    assert response.status_code == 400
    assert "Timer has only 1 available; you asked for 2." in response.content.decode()
    assert Order.objects.count() == 1


def test_checkout_with_an_empty_cart_goes_back_to_the_cart(client, db):
    response = client.post("/checkout/", CHECKOUT)
    assert response.status_code == 302 and response.url == "/cart/"


def test_checkout_enforces_csrf(db):
    client = Client(enforce_csrf_checks=True)
    kettle = product_create(sku="KETTLE", on_hand=5)
    assert add(client, kettle).status_code == 403


def test_status_page_and_json(client, django_assert_num_queries):
    kettle = product_create(sku="KETTLE", on_hand=1)
    grinder = product_create(sku="GRINDER")
    order_create({grinder: 2})
    order = order_create({kettle: 2, grinder: 1})
    with django_assert_num_queries(5):  # one more: the order's payments summed
        response = client.get(f"/orders/{order.token}/")
    assert response.status_code == 200
    assert "Place in queue: 2" in response.content.decode()
    data = client.get(f"/orders/{order.token}/status.json").json()
    # No confirmed inbound: the default window, the FTC rule's 30 days.
    promise = (datetime.date.today() + datetime.timedelta(days=30)).isoformat()
    assert data == {
        "number": order.number,
        "status": "backordered",
        "awaiting_consent": False,
        # Placed by a script, not the checkout: paid outside the store.
        "currency": "USD",
        "total": "30.00",
        "paid": "0.00",
        "refunded": "0.00",
        "due_on_shipment": "0.00",
        "lines": [
            {
                "sku": "KETTLE",
                "quantity": 2,
                "allocated": 1,
                "backordered": 1,
                "shipped": 0,
                "cancelled": 0,
                "unit_price": "10.00",
                "discount": "0.00",
                "eta": None,
                "promised_by": promise,
                "queue_position": 1,
            },
            {
                "sku": "GRINDER",
                "quantity": 1,
                "allocated": 0,
                "backordered": 1,
                "shipped": 0,
                "cancelled": 0,
                "unit_price": "10.00",
                "discount": "0.00",
                "eta": None,
                "promised_by": promise,
                "queue_position": 2,
            },
        ],
    }


def test_unknown_token_reveals_nothing(client, db):
    product = product_create(sku="KETTLE", on_hand=1)
    order = order_create({product: 1})
    assert len(order.token) >= 43  # 256 bits, URL-safe base64
    assert client.get(f"/orders/{order.token[:-1]}x/").status_code == 404
    assert client.get("/orders/x/status.json").status_code == 404


def test_customer_cancels_back_ordered_units_from_the_status_page(client):
    grinder = product_create(sku="GRINDER")
    order = order_create({grinder: 2})
    line = order.lines.get()
    url = f"/orders/{order.token}/lines/{line.pk}/cancel/"
    asked = client.post(url)  # the order page's button: asks how many, changes nothing
    assert asked.status_code == 200 and "How many of the 2 to cancel" in asked.content.decode()
    line.refresh_from_db()
    assert line.backordered == 2
    response = client.post(url, {"units": 2, "confirm": "on"})
    assert response.status_code == 302
    line.refresh_from_db()
    assert (line.backordered, line.cancelled) == (0, 2)
    assert client.get(f"/orders/{order.token}/status.json").json()["status"] == "cancelled"


def test_customer_cancels_one_of_two_and_keeps_the_other_in_its_place(client):
    grinder = product_create(sku="GRINDER")
    order = order_create({grinder: 2})
    behind = order_create({grinder: 1}, email="behind@example.com")
    line = order.lines.get()
    url = f"/orders/{order.token}/lines/{line.pk}/cancel/"
    page = client.post(url, {"units": 1, "confirm": "on"}, follow=True).content.decode()
    assert "Cancelled 1 back-ordered × Grinder; 1 still on back-order" in page
    line.refresh_from_db()
    assert (line.backordered, line.cancelled) == (1, 1)
    data = client.get(f"/orders/{order.token}/status.json").json()["lines"][0]
    assert data["queue_position"] == 1
    assert (
        client.get(f"/orders/{behind.token}/status.json").json()["lines"][0]["queue_position"] == 2
    )
    # A second partial cancel is its own event: its own email.
    client.post(url, {"units": 1, "confirm": "on"})
    assert OutboxEmail.objects.filter(event="backorder_cancelled").count() == 2


@pytest.mark.parametrize("units", ["0", "3", "-1", "abc", "1.5"])
def test_cancelling_a_quantity_out_of_range_asks_again_and_changes_nothing(client, units):
    grinder = product_create(sku="GRINDER")
    order = order_create({grinder: 2})
    line = order.lines.get()
    url = f"/orders/{order.token}/lines/{line.pk}/cancel/"
    response = client.post(url, {"units": units, "confirm": "on"})
    assert response.status_code == 400
    line.refresh_from_db()
    assert (line.backordered, line.cancelled) == (2, 0)


def test_lookup_finds_the_order_by_number_and_email(client):
    order = order_create({product_create(sku="KETTLE", on_hand=1): 1}, email="Sam@Example.com")
    response = client.post("/orders/lookup/", {"number": order.number, "email": "sam@example.com"})
    assert response.status_code == 302 and response.url == f"/orders/{order.token}/"


def test_lookup_answers_alike_for_wrong_number_and_wrong_email(client):
    order = order_create({product_create(sku="KETTLE", on_hand=1): 1})
    wrong_email = client.post("/orders/lookup/", {"number": order.number, "email": "x@example.com"})
    wrong_number = client.post("/orders/lookup/", {"number": "999999", "email": order.email})
    assert wrong_email.status_code == wrong_number.status_code == 400
    strip = lambda response: re.sub(r'value="[^"]*"', "", response.content.decode())  # noqa: E731
    assert strip(wrong_email) == strip(wrong_number)


def test_lookup_is_rate_limited(client, settings, db):
    settings.ORDER_LOOKUP_RATE_LIMIT = 3
    for _ in range(3):
        client.post("/orders/lookup/", {"number": "100001", "email": "a@example.com"})
    response = client.post("/orders/lookup/", {"number": "100001", "email": "a@example.com"})
    assert response.status_code == 429


def test_cart_promises_no_date_the_inbound_cannot_cover(client):
    import datetime

    from django.utils import timezone

    from catalog.models import Inbound

    scale = product_create(sku="SCALE", on_hand=3)
    Inbound.objects.create(
        product=scale, quantity=1, expected_date=timezone.localdate() + datetime.timedelta(days=5)
    )
    add(client, scale, 5)  # 3 from stock, 2 back-ordered: the inbound of 1 is not enough
    (line,) = client.get("/cart/").context["lines"]
    assert (line.allocate_now, line.backorder, line.eta) == (3, 2, None)


def test_customer_switches_to_ship_what_is_ready_now(client):
    kettle = product_create(sku="KETTLE", on_hand=1)
    grinder = product_create(sku="GRINDER")
    order = order_create({kettle: 1, grinder: 1}, shipping_preference="ship_all_together")
    page = client.get(f"/orders/{order.token}/").content.decode()
    assert "Ship what is ready now instead" in page
    url = f"/orders/{order.token}/shipping/"
    assert client.post(url, {"shipping_preference": "ship_ready_now"}).status_code == 302
    order.refresh_from_db()
    assert order.shipping_preference == "ship_ready_now"
    assert client.post(url, {"shipping_preference": "whenever"}).status_code == 400
    assert client.get(url).status_code == 405


def test_lookup_rate_limit_counts_the_client_behind_the_proxy(client, settings, db):
    settings.ORDER_LOOKUP_RATE_LIMIT = 1
    settings.NUM_PROXIES = 1
    data = {"number": "100001", "email": "a@example.com"}
    for shopper in ("203.0.113.1", "203.0.113.2"):
        response = client.post("/orders/lookup/", data, HTTP_X_FORWARDED_FOR=shopper)
        assert response.status_code == 400  # each shopper has their own allowance
    response = client.post("/orders/lookup/", data, HTTP_X_FORWARDED_FOR="203.0.113.1")
    assert response.status_code == 429


def test_setting_a_quantity_of_an_unknown_product_is_404_and_keeps_it_out(client, db):
    response = client.post("/cart/update/", {"product_id": 999_999, "quantity": 2})
    assert response.status_code == 404
    assert "999999" not in client.session.get("cart", {})
