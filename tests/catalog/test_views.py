import datetime
import re

import pytest
from django.utils import timezone

from backorders.services import stock_receive
from catalog.models import Inbound
from catalog.policy import BackorderPolicy
from tests.factories import order_create, product_create

pytestmark = pytest.mark.django_db


def names(response) -> list[str]:
    """The products the catalog page shows, in order, as a shopper reads them."""
    return re.findall(
        r'<li class="card">.*?<h2><a [^>]+>([^<]+)</a>', response.content.decode(), re.S
    )


@pytest.fixture
def shop():
    return {
        "kettle": product_create(sku="KETTLE", name="Gooseneck kettle", on_hand=4, category="Gear"),
        "grinder": product_create(
            sku="GRINDER", name="Burr grinder", category="Gear", lead_time_days=21
        ),
        "timer": product_create(
            sku="TIMER", name="Kitchen timer", category="Kitchen", policy=BackorderPolicy.DENY
        ),
    }


def test_catalog_lists_products_with_availability(client, shop, django_assert_max_num_queries):
    with django_assert_max_num_queries(4):
        response = client.get("/")
    assert response.status_code == 200
    text = response.content.decode()
    for label in ("In stock", "Available on back-order", "Sold out"):
        assert label in text


def test_catalog_search_and_category_filter(client, shop):
    assert names(client.get("/", {"q": "grinder"})) == ["Burr grinder"]
    assert names(client.get("/", {"q": "TIMER"})) == ["Kitchen timer"]
    assert names(client.get("/", {"category": "kitchen"})) == ["Kitchen timer"]
    assert names(client.get("/", {"category": "gear", "q": "kettle"})) == ["Gooseneck kettle"]
    assert names(client.get("/", {"q": "nothing like this"})) == []


def test_product_page_says_in_stock(client, shop):
    response = client.get("/products/kettle/")
    assert response.status_code == 200
    assert b"In stock" in response.content and b"Add to cart" in response.content


def test_back_order_page_without_a_confirmed_date_promises_the_default_window(client, shop):
    text = client.get("/products/grinder/").content.decode()
    assert "Available on back-order" in text
    promise = timezone.localdate() + datetime.timedelta(days=30)
    assert "No confirmed date yet (usually 21 days from our supplier)" in text
    assert f"if we cannot ship by {promise:%-d %B %Y}, we will ask" in text


def test_back_order_page_gives_the_confirmed_inbound_date(client, shop):
    date = timezone.localdate() + datetime.timedelta(days=9)
    Inbound.objects.create(product=shop["grinder"], quantity=5, expected_date=date)
    text = client.get("/products/grinder/").content.decode()
    promise = date + datetime.timedelta(days=2)
    assert f"Expected in by {date:%-d %B %Y}: we promise to ship by {promise:%-d %B %Y}" in text


def test_unavailable_product_offers_no_cart_form(client, shop):
    text = client.get("/products/timer/").content.decode()
    assert "Sold out" in text and "/cart/add/" not in text


def test_unknown_product_is_404(client, db):
    assert client.get("/products/no-such-thing/").status_code == 404


@pytest.fixture
def thirty(db):
    return [
        product_create(sku=f"MUG-{n:02}", name=f"Mug {n:02}", category="Mugs") for n in range(30)
    ]


def test_the_catalog_shows_24_products_a_page_with_links_that_keep_the_search(client, thirty):
    first = client.get("/", {"q": "mug", "category": "mugs"})
    assert len(names(first)) == 24
    text = first.content.decode()
    assert "Page 1 of 2" in text
    assert 'href="?q=mug&amp;category=mugs&amp;page=2"' in text
    second = client.get("/", {"q": "mug", "category": "mugs", "page": 2})
    assert names(second) == [f"Mug {n:02}" for n in range(24, 30)]
    assert 'href="?q=mug&amp;category=mugs&amp;page=1"' in second.content.decode()


@pytest.mark.parametrize(("page", "shown"), [("x", "Mug 00"), ("0", "Mug 24"), ("99", "Mug 24")])
def test_a_page_that_is_no_page_shows_the_first_or_the_last(client, thirty, page, shown):
    response = client.get("/", {"page": page})
    assert response.status_code == 200
    assert names(response)[0] == shown


def test_the_catalog_sorts_by_price_name_or_newest_and_keeps_the_sort_in_page_links(client):
    for n, price in enumerate(["30.00", "10.00", "20.00"]):
        product_create(sku=f"P{n}", name=f"Item {'CAB'[n]}", price=price)
    assert names(client.get("/", {"sort": "price"})) == ["Item A", "Item B", "Item C"]
    assert names(client.get("/", {"sort": "-price"})) == ["Item C", "Item B", "Item A"]
    assert names(client.get("/", {"sort": "newest"})) == ["Item B", "Item A", "Item C"]
    assert names(client.get("/", {"sort": "name"})) == ["Item A", "Item B", "Item C"]
    assert names(client.get("/", {"sort": "nonsense"})) == ["Item A", "Item B", "Item C"]


def test_in_stock_now_leaves_out_back_orders_and_stock_owed_to_the_queue(client):
    product_create(sku="KETTLE", name="Kettle", on_hand=2)
    product_create(sku="GRINDER", name="Grinder")
    owed = product_create(sku="MUG", name="Mug")
    order_create({owed: 1})
    stock_receive(product=owed, quantity=1)  # arrived for the waiting order, not for sale
    assert names(client.get("/", {"in_stock": "1"})) == ["Kettle"]
    assert names(client.get("/")) == ["Grinder", "Kettle", "Mug"]
