"""The catalog's cards are cached under a version per product (catalog.cache): a page
shows a receipt, an allocation and a cancellation on the very next request, because
the service that changed the stock bumped the version when its transaction committed."""

import re

import pytest

from backorders.services import stock_receive
from catalog.policy import BackorderPolicy
from orders.services import order_cancel_backorders
from tests.factories import order_create, product_create

pytestmark = pytest.mark.django_db


def shown(client) -> str:
    """The lantern's availability on the catalog page."""
    page = client.get("/").content.decode()
    card = re.search(r'<li class="card">(?:(?!</li>).)*Lantern(?:(?!</li>).)*</li>', page, re.S)
    return re.search(r'class="availability[^"]*">([^<]+)<', card.group()).group(1)


def test_the_catalog_reflects_every_stock_change_on_the_next_request(client, run_on_commit):
    lantern = product_create(sku="LANTERN", policy=BackorderPolicy.ALLOW_LIMITED, limit=1)
    assert shown(client) == "Available on back-order"
    assert shown(client) == "Available on back-order"  # now from the cache

    run_on_commit(stock_receive, product=lantern, quantity=1)  # a receipt
    assert shown(client) == "In stock"

    order = order_create({lantern: 2})  # an allocation (1) and a back-order (the limit)
    assert shown(client) == "Sold out"

    line = order.lines.get()
    run_on_commit(order_cancel_backorders, order=order, line_ids=[line.pk])  # a cancellation
    assert shown(client) == "Available on back-order"


def test_a_card_is_served_from_the_cache_until_its_product_changes(client, run_on_commit):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    lantern = product_create(sku="LANTERN")
    product_create(sku="KETTLE")
    client.get("/")
    with CaptureQueriesContext(connection) as cached:
        client.get("/")
    run_on_commit(stock_receive, product=lantern, quantity=1)
    with CaptureQueriesContext(connection) as changed:
        client.get("/")
    rows = [q["sql"] for q in changed.captured_queries if "IN (" in q["sql"]]
    assert not [q for q in cached.captured_queries if "IN (" in q["sql"]]
    assert len(rows) == 1 and f"({lantern.pk})" in rows[0].replace(" ", "")


def test_with_the_cache_down_every_card_is_rendered_afresh(client, run_on_commit, caplog):
    from unittest import mock

    from django.core.cache import cache

    lantern = product_create(sku="LANTERN", policy=BackorderPolicy.ALLOW_LIMITED, limit=1)
    assert shown(client) == "Available on back-order"  # cached while the cache works
    with mock.patch.object(cache, "get_many", side_effect=ConnectionError("cache down")):
        run_on_commit(stock_receive, product=lantern, quantity=1)
        assert shown(client) == "In stock"
    assert "product versions unreadable" in caplog.text
