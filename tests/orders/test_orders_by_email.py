"""Email me my orders (issue 11): one email of links per address per window, and the
same answer on the page whether or not the address ever ordered."""

import pytest
from django.core import mail

from tests.factories import order_create, product_create

pytestmark = pytest.mark.django_db
URL = "/orders/find/"


@pytest.fixture
def orders(db):
    kettle = product_create(sku="KETTLE", on_hand=5)
    return [order_create({kettle: 1}, email="Sam@Example.com") for _ in range(2)] + [
        order_create({kettle: 1}, email="other@example.com")
    ]


def answer(client, email) -> str:
    response = client.post(URL, {"email": email}, follow=True)
    assert response.status_code == 200
    return response.content.decode()


def test_the_email_links_every_order_of_that_address_and_no_other(client, orders, run_on_commit):
    mail.outbox.clear()
    run_on_commit(client.post, URL, {"email": "sam@example.com"})
    (message,) = mail.outbox
    assert message.to == ["Sam@Example.com"]
    for order in orders[:2]:
        assert order.get_absolute_url() in message.body and order.number in message.body
    assert orders[2].get_absolute_url() not in message.body


def test_the_page_answers_alike_for_an_address_that_never_ordered(client, orders):
    known = answer(client, "sam@example.com")
    unknown = answer(client, "nobody@example.com")
    strip = lambda text: text.replace("sam@example.com", "").replace("nobody@example.com", "")  # noqa: E731
    assert "a list of links to them is on its way" in known
    assert (
        strip(known).split("csrfmiddlewaretoken")[0]
        == strip(unknown).split("csrfmiddlewaretoken")[0]
    )


def test_one_email_per_window_however_often_it_is_asked(client, orders, run_on_commit):
    mail.outbox.clear()
    for _ in range(3):
        run_on_commit(client.post, URL, {"email": "sam@example.com"})
    assert len(mail.outbox) == 1


def test_it_is_rate_limited_like_the_lookup(client, orders, settings):
    settings.ORDER_LOOKUP_RATE_LIMIT = 2
    for _ in range(2):
        client.post(URL, {"email": "nobody@example.com"})
    response = client.post(URL, {"email": "sam@example.com"})
    assert response.status_code == 429
    assert "Too many requests" in response.content.decode()


@pytest.mark.parametrize("email", ["", "not-an-email", "x" * 300 + "@example.com"])
def test_a_bad_address_is_a_form_error(client, orders, email):
    mail.outbox.clear()
    response = client.post(URL, {"email": email})
    assert response.status_code == 400 and not mail.outbox
