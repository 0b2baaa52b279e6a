"""Pages and writes do a fixed number of queries, however long the back-order queues
are: each is measured with a short queue and with a long one, and both must match."""

import datetime

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from backorders.services import inbound_announce, stock_receive
from catalog.models import Product
from catalog.policy import BackorderPolicy
from orders.services import order_lines_fill_from_queue, order_place
from tests.factories import backorders_bulk_create, order_create, product_create

pytestmark = pytest.mark.django_db


def queries(function) -> int:
    with CaptureQueriesContext(connection) as captured:
        function()
    return len(captured)


@pytest.fixture
def store():
    """A product with stock, one with a queue, and a customer's order waiting on it."""
    kettle = product_create(sku="KETTLE", on_hand=5)
    grinder = product_create(sku="GRINDER")
    inbound_announce(
        product=grinder,
        quantity=10_000,
        expected_date=datetime.date.today() + datetime.timedelta(days=9),
    )
    order = order_create({kettle: 1, grinder: 2})
    return {"kettle": kettle, "grinder": grinder, "order": order}


def lengthen_queue(store, count=300) -> None:
    """`count` more back-orders of the grinder, ahead of the customer's order."""
    backorders_bulk_create(store["grinder"], count)
    store["order"].lines.filter(product=store["grinder"]).update(priority=-1)


def with_cart(client, store):
    for product in (store["kettle"], store["grinder"]):
        client.post("/cart/add/", {"product_id": product.pk, "quantity": 2})


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        (lambda store: "/cart/", 7),  # with the in-stock alternatives of what waits
        (lambda store: "/checkout/", 3),
        # With the ids of its alternatives, whose stock the page follows.
        (lambda store: store["grinder"].get_absolute_url(), 5),
        # With the order's money: one sum over its payments.
        (lambda store: store["order"].get_absolute_url(), 6),
        (lambda store: f"{store['order'].get_absolute_url()}status.json", 5),
    ],
    ids=["cart", "checkout", "product", "status", "status.json"],
)
def test_page_queries_do_not_grow_with_the_queue(client, store, page, expected):
    """Measured as the page is made, with nothing kept in the cache."""
    with_cart(client, store)
    url = page(store)
    client.get(url)  # a first visit may write the session (the checkout key)
    short = made(client, url)
    lengthen_queue(store)
    long = made(client, url)
    assert (short, long) == (expected, expected)


def made(client, url: str) -> int:
    cache.clear()
    return queries(lambda: client.get(url))


@pytest.mark.parametrize(
    "page",
    [
        lambda store: "/",
        lambda store: store["grinder"].get_absolute_url(),
        lambda store: store["order"].get_absolute_url(),
        lambda store: f"{store['order'].get_absolute_url()}status.json",
    ],
    ids=["catalog", "product", "status", "status.json"],
)
def test_a_kept_page_reads_nothing_from_the_database(client, store, page):
    with_cart(client, store)
    # The cart's flash shown, then the page made, then kept under the versions it
    # shows (core.versions); the shopper's session is read from the cache too.
    for _ in range(3):
        client.get(page(store))
    assert queries(lambda: client.get(page(store))) == 0


def test_order_place_queries_do_not_grow_with_the_queue(store):
    def place():
        order_place(
            quantities={store["kettle"].pk: 1, store["grinder"].pk: 1},
            email="q@example.com",
            name="Q",
            shipping_address="1 Count Road",
            backorder_accepted=True,
        )

    short = queries(place)
    lengthen_queue(store)
    long = queries(place)
    assert (short, long) == (14, 14)


def test_one_allocation_batch_is_a_fixed_number_of_queries(monkeypatch, store):
    monkeypatch.setattr("backorders.services.enqueue_on_commit", lambda *args: None)
    assert connection.features.supports_json_field  # SQLite finds out with a query, once
    grinder = store["grinder"]
    stock_receive(product=grinder, quantity=2)

    def batch():
        order_lines_fill_from_queue(product_id=grinder.pk, batch_size=50)

    short = queries(batch)  # serves the customer's order: the only one waiting
    lengthen_queue(store, count=200)
    stock_receive(product=grinder, quantity=100)
    long = queries(batch)  # serves 50 of the 200
    assert (short, long) == (9, 9)


def test_catalog_queries_do_not_grow_with_allow_inbound_products(client):
    def add_tents(first: int) -> None:
        for n in range(first, first + 3):
            tent = product_create(sku=f"TENT-{n}", policy=BackorderPolicy.ALLOW_INBOUND)
            inbound_announce(product=tent, quantity=5, expected_date=datetime.date.today())

    add_tents(0)
    few = queries(lambda: client.get("/"))
    add_tents(3)
    many = queries(lambda: client.get("/"))
    assert few == many
    assert "Available on back-order" in client.get("/").content.decode()


def test_catalog_queries_do_not_grow_with_the_catalog(client):
    category = product_create(sku="FIRST").category

    def catalog_of(count: int) -> None:
        Product.objects.bulk_create(
            Product(sku=f"P{n}", slug=f"p{n}", name=f"Product {n:05}", category=category, price=1)
            for n in range(Product.objects.count(), count)
        )

    catalog_of(24)
    small = queries(lambda: client.get("/"))
    catalog_of(5_000)
    large = queries(lambda: client.get("/", {"page": 100}))
    searched = queries(lambda: client.get("/", {"q": "product 04", "page": 3}))
    # The categories, the count, the page's products, and the rows of those whose card
    # is not cached yet; once cached, three.
    assert small == large == searched == 4
    assert queries(lambda: client.get("/", {"page": 100})) == 3
