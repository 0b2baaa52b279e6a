"""Sessions are read from the cache and written through to the database (core.sessions):
a shopper's request reads no session row, and with the cache unreachable the cart is
still read from and saved to the database."""

from unittest import mock

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import product_create

pytestmark = pytest.mark.django_db

DOWN = ConnectionError("cache down")


def cart_add(client, product, quantity=1):
    answer = client.post("/cart/add/", {"product_id": product.pk, "quantity": quantity})
    assert answer.status_code == 302


def session_reads(client, url) -> list[str]:
    """The session rows the request at `url` read from the database."""
    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    sql = [q["sql"] for q in captured.captured_queries]
    return [s for s in sql if s.startswith("SELECT") and '"django_session"' in s]


def test_a_shoppers_session_is_read_from_the_cache(client):
    cart_add(client, product_create(sku="KETTLE", on_hand=5))
    assert session_reads(client, "/checkout/") == []


def test_a_session_the_cache_lost_is_read_from_the_database(client):
    kettle = product_create(sku="KETTLE", on_hand=5)
    cart_add(client, kettle, 2)
    cache.clear()  # evicted, or the cache restarted
    assert len(session_reads(client, "/cart/")) == 1
    assert session_reads(client, "/cart/") == []  # and kept in the cache again
    assert b"Kettle" in client.get("/cart/").content


def test_with_the_cache_down_the_cart_is_kept_in_the_database(client, caplog):
    kettle = product_create(sku="KETTLE", name="Kettle", on_hand=5)
    lamp = product_create(sku="LAMP", name="Lamp", on_hand=5)
    cart_add(client, kettle)
    with (
        mock.patch.object(cache, "get", side_effect=DOWN),
        mock.patch.object(cache, "set", side_effect=DOWN),
    ):
        cart_add(client, lamp)
        page = client.get("/cart/").content.decode()
    assert "Kettle" in page and "Lamp" in page
    assert "the cache is unreachable" in caplog.text
    cache.clear()  # what the cache held before it went down is gone with it
    page = client.get("/cart/").content.decode()
    assert "Kettle" in page and "Lamp" in page


def test_a_new_shopper_gets_a_session_with_the_cache_down(client):
    kettle = product_create(sku="KETTLE", name="Kettle", on_hand=5)
    with (
        mock.patch.object(cache, "get", side_effect=DOWN),
        mock.patch.object(cache, "set", side_effect=DOWN),
        mock.patch.object(cache, "has_key", side_effect=DOWN),
    ):
        cart_add(client, kettle)
        assert "Kettle" in client.get("/cart/").content.decode()


def test_a_staff_session_ended_by_logout_is_not_revived_from_the_cache(admin_user, client):
    client.force_login(admin_user)
    assert client.get("/admin/").status_code == 200
    stolen = client.cookies["sessionid"].value
    client.post("/admin/logout/")
    client.cookies["sessionid"] = stolen
    assert client.get("/admin/").status_code == 302  # to the login page
