"""Product pages, order status pages and status.json are kept whole in the cache under
the versions of what they show (core.pages, core.versions). Each reflects a receipt, an
allocation and a cancellation on the very next request, and each shopper's copy of a
kept page carries their own CSRF token and cart."""

import json
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from backorders.services import stock_receive
from catalog.policy import BackorderPolicy
from orders.billing import order_line_return
from orders.services import order_cancel_backorders, order_ship
from payments.services import payment_execute
from tests.factories import order_checkout_create, order_create, product_create

pytestmark = pytest.mark.django_db


def kept(client, url) -> str:
    """The page at `url` once it is kept: the first visits make and keep it, the last
    is answered from the cache without a query (a shopper without a session)."""
    for _ in range(2):
        client.get(url)
    with CaptureQueriesContext(connection) as queries:
        page = client.get(url).content.decode()
    assert not queries.captured_queries, [q["sql"] for q in queries.captured_queries]
    return page


def availability(page: str) -> str:
    return re.search(r'class="availability[^"]*">([^<]+)<', page).group(1)


def status(client, order) -> dict:
    return json.loads(client.get(f"{order.get_absolute_url()}status.json").content)


def test_a_product_page_reflects_every_stock_change_on_the_next_request(client, run_on_commit):
    lantern = product_create(sku="LANTERN", policy=BackorderPolicy.ALLOW_LIMITED, limit=1)
    url = lantern.get_absolute_url()
    assert availability(kept(client, url)) == "Available on back-order"

    run_on_commit(stock_receive, product=lantern, quantity=1)  # a receipt
    assert availability(client.get(url).content.decode()) == "In stock"

    order = order_create({lantern: 2})  # an allocation (1) and a back-order (the limit)
    assert availability(client.get(url).content.decode()) == "Sold out"

    line = order.lines.get()
    run_on_commit(order_cancel_backorders, order=order, line_ids=[line.pk])  # a cancellation
    assert availability(client.get(url).content.decode()) == "Available on back-order"


def test_an_alternative_is_suggested_on_the_next_request_once_it_is_in_stock(client, run_on_commit):
    tent = product_create(sku="TENT", name="Tent")
    tarp = product_create(sku="TARP", name="Tarp")
    tent.alternatives.add(tarp)
    assert "In stock now instead" not in kept(client, tent.get_absolute_url())
    run_on_commit(stock_receive, product=tarp, quantity=3)
    assert "Add Tarp to cart" in client.get(tent.get_absolute_url()).content.decode()


def test_the_status_page_and_json_reflect_allocation_cancellation_and_shipping(
    client, run_on_commit
):
    kettle = product_create(sku="KETTLE")
    ahead, order = order_create({kettle: 1}), order_create({kettle: 2})
    page_url, json_url = order.get_absolute_url(), f"{order.get_absolute_url()}status.json"
    assert "Place in queue: 2" in kept(client, page_url)
    assert json.loads(kept(client, json_url))["lines"][0]["queue_position"] == 2

    # Another order's cancellation moves this one up its product's queue.
    run_on_commit(order_cancel_backorders, order=ahead, line_ids=[ahead.lines.get().pk])
    assert "Place in queue: 1" in client.get(page_url).content.decode()
    assert status(client, order)["lines"][0]["queue_position"] == 1

    run_on_commit(stock_receive, product=kettle, quantity=2)  # a receipt, then allocation
    assert "2 reserved for you, ready to ship" in client.get(page_url).content.decode()
    assert status(client, order)["lines"][0]["allocated"] == 2

    run_on_commit(order_ship, order=order)
    assert "2 shipped" in client.get(page_url).content.decode()
    assert status(client, order)["status"] == "shipped"


def test_a_refund_settling_later_shows_on_the_next_request(client, run_on_commit, monkeypatch):
    lamp = product_create(sku="LAMP", price="25.00", on_hand=2)
    order = order_checkout_create({lamp: 2})
    order_ship(order=order)
    # The refund is claimed with the return, then settled by a task of its own.
    monkeypatch.setattr("payments.services.enqueue_on_commit", lambda *args: None)
    run_on_commit(order_line_return, line=order.lines.get(), units=1, reason="Cracked")
    assert "refunded $25.00" not in kept(client, order.get_absolute_url())
    assert status(client, order)["refunded"] == "0.00"

    (refund,) = order.payments.filter(kind="refund")
    run_on_commit(payment_execute, payment_id=refund.pk)
    assert "refunded $25.00" in client.get(order.get_absolute_url()).content.decode()
    assert status(client, order)["refunded"] == "25.00"


def test_each_shopper_gets_their_own_token_and_cart_on_a_kept_page(run_on_commit):
    kettle = product_create(sku="KETTLE", name="Kettle", on_hand=5)
    alice, bob = Client(enforce_csrf_checks=True), Client(enforce_csrf_checks=True)

    def add_to_cart(shopper) -> int:
        page = shopper.get(kettle.get_absolute_url()).content.decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        form = {"product_id": kettle.pk, "quantity": 1, "csrfmiddlewaretoken": token}
        return shopper.post("/cart/add/", form).status_code

    assert add_to_cart(alice) == 302  # the page is made and kept meanwhile
    kept(Client(), kettle.get_absolute_url())
    alice_page = alice.get(kettle.get_absolute_url()).content.decode()
    bob_page = bob.get(kettle.get_absolute_url()).content.decode()
    assert 'aria-label="1 items">1</span>' in alice_page
    assert "badge" not in bob_page
    assert "stand-in" not in alice_page + bob_page
    assert add_to_cart(bob) == 302  # his own token, valid for his own cookie


def test_a_message_shows_once_and_is_never_kept(client, run_on_commit):
    kettle = product_create(sku="KETTLE")
    order = order_create({kettle: 1}, shipping_preference="ship_all_together")
    kept(client, order.get_absolute_url())
    url = f"{order.get_absolute_url()}shipping/"
    response = run_on_commit(client.post, url, {"shipping_preference": "ship_ready_now"})
    flashed = client.get(response.url).content.decode()
    assert "Shipping: Ship what is ready now" in flashed
    again = client.get(order.get_absolute_url()).content.decode()
    assert "We ship what is ready now" in again and "message-success" not in again
    assert "message-success" not in Client().get(order.get_absolute_url()).content.decode()


def test_text_that_looks_like_a_stand_in_is_shown_as_text():
    product_create(sku="ODD", name="<!-- cart badge --> csrf-stand-in")
    page = kept(Client(), "/products/odd/")
    assert "&lt;!-- cart badge --&gt; csrf-stand-in" in page


def test_with_the_cache_down_pages_are_made_afresh(client, run_on_commit, caplog):
    from unittest import mock

    from django.core.cache import cache

    lantern = product_create(sku="LANTERN", policy=BackorderPolicy.ALLOW_LIMITED, limit=1)
    assert availability(kept(client, lantern.get_absolute_url())) == "Available on back-order"
    down = ConnectionError("cache down")
    with mock.patch.object(cache, "get", side_effect=down):
        run_on_commit(stock_receive, product=lantern, quantity=1)
        page = client.get(lantern.get_absolute_url()).content.decode()
    assert availability(page) == "In stock"
    assert "cache unreadable" in caplog.text


def test_the_catalog_lists_what_staff_add_change_and_delete_on_the_next_request(
    client, admin_client, run_on_commit
):
    from decimal import Decimal

    from catalog.services import ProductRow, products_import

    kettle = product_create(sku="KETTLE", name="Kettle")
    assert "Kettle" in kept(client, "/")
    row = ProductRow("LAMP", "Lamp", Decimal("9.00"), "General", "allow", 0, 14, "")
    run_on_commit(products_import, rows=[row])  # the CSV import
    assert "Lamp" in client.get("/").content.decode()
    run_on_commit(admin_client.post, f"/admin/catalog/product/{kettle.pk}/delete/", {"post": "yes"})
    listed = client.get("/").content.decode()
    assert "Kettle" not in listed and "Lamp" in listed
    assert client.get(kettle.get_absolute_url()).status_code == 404


def test_a_search_is_not_kept_but_its_cards_are(client):
    product_create(sku="KETTLE", name="Kettle")
    client.get("/", {"q": "kett"})  # renders and keeps the card
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            assert "Kettle" in client.get("/", {"q": "kett"}).content.decode()
        assert len(queries) == 3  # the categories, the count, the page's products


@pytest.mark.parametrize(
    "query",
    [
        {"category": "no-such-category"},
        {"page": "999"},  # past the end: the last page is shown
        {"page": "0001"},
        {"sort": "sideways"},
    ],
)
def test_a_catalog_page_nobody_links_to_is_answered_but_never_kept(client, query):
    from django.core.cache import cache

    product_create(sku="KETTLE", name="Kettle")
    for _ in range(3):
        assert client.get("/", query).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        client.get("/", query)
    assert queries.captured_queries  # made again: nothing was kept for it
    assert not [key for key in cache._cache if "versioned:catalog" in key]
    assert kept(client, "/?category=general&page=1&sort=price")  # a real one is kept
