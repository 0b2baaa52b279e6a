"""Sessions are read from the cache and written through to the database (core.sessions):
a shopper's request reads no session row; with the cache unreachable or full the cart
is still read from and saved to the database, and never read from an older copy; an
ended session cannot come back from the cache."""

from unittest import mock

import pytest
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from tests.factories import product_create

pytestmark = pytest.mark.django_db

DOWN = RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
FULL = ResponseError("OOM command not allowed when used memory > 'maxmemory'.")


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
    # The cache is back: its copy from before the outage, with the kettle alone, was
    # removed when it refused the new one.
    page = client.get("/cart/").content.decode()
    assert "Kettle" in page and "Lamp" in page


def test_with_the_cache_full_the_cart_is_read_from_the_database(client, caplog):
    kettle = product_create(sku="KETTLE", name="Kettle", on_hand=5)
    lamp = product_create(sku="LAMP", name="Lamp", on_hand=5)
    cart_add(client, kettle)
    with mock.patch.object(cache, "set", side_effect=FULL):  # reads still work
        cart_add(client, lamp)
        page = client.get("/cart/").content.decode()
    assert "Kettle" in page and "Lamp" in page
    assert "the cache refused it" in caplog.text


def test_a_new_shopper_gets_a_session_with_the_cache_down(client):
    kettle = product_create(sku="KETTLE", name="Kettle", on_hand=5)
    with (
        mock.patch.object(cache, "get", side_effect=DOWN),
        mock.patch.object(cache, "set", side_effect=DOWN),
        mock.patch.object(cache, "has_key", side_effect=DOWN),
    ):
        cart_add(client, kettle)
        assert "Kettle" in client.get("/cart/").content.decode()


def test_a_logout_the_cache_cannot_take_changes_nothing(admin_user, client):
    client.force_login(admin_user)
    stolen = client.cookies["sessionid"].value
    with mock.patch.object(cache, "delete", side_effect=DOWN), pytest.raises(RedisConnectionError):
        client.post("/admin/logout/")
    assert Session.objects.filter(session_key=stolen).exists()  # still logged in
    client.post("/admin/logout/")  # the cache is back
    assert not Session.objects.filter(session_key=stolen).exists()
    client.cookies["sessionid"] = stolen
    assert client.get("/admin/").status_code == 302  # to the login page


def test_a_staff_session_ended_by_logout_is_not_revived_from_the_cache(admin_user, client):
    client.force_login(admin_user)
    assert client.get("/admin/").status_code == 200
    stolen = client.cookies["sessionid"].value
    client.post("/admin/logout/")
    client.cookies["sessionid"] = stolen
    assert client.get("/admin/").status_code == 302  # to the login page
