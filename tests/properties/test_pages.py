"""Every URL with a parameter, driven with generated bad values: never a 5xx, never a
change. GET pages change nothing whatever they are given."""

from urllib.parse import quote

import pytest
from hypothesis import given

from tests.properties import strategies as domain
from tests.properties.checks import answered_without_error, case, refused_and_unchanged, state

pytestmark = pytest.mark.django_db


@given(query=domain.hostile_text(), category=domain.slugs())
def test_catalog_search_and_filter(client, store, query, category):
    case("catalog")
    before = state()
    response = client.get("/", {"q": query, "category": category})
    answered_without_error(response)
    assert response.status_code in (200, 400)
    assert state() == before


@given(slug=domain.slugs())
def test_product_page(client, store, slug):
    case("product page")
    before = state()
    response = client.get(f"/products/{quote(slug, safe='')}/")
    refused_and_unchanged(response, before, refused=(400, 404))


@given(token=domain.tokens())
def test_order_status_page_and_json(client, store, token):
    case("status page")
    before = state()
    path = f"/orders/{quote(token, safe='')}/"
    refused_and_unchanged(client.get(path), before, refused=(400, 404))
    response = client.get(f"{path}status.json")
    refused_and_unchanged(response, before, refused=(400, 404))
    if response.status_code == 404:
        assert response.json() == {"error": "not found"}


@given(token=domain.tokens(), line=domain.quantities(), preference=domain.hostile_text())
def test_order_actions_without_the_token(client, store, token, line, preference):
    case("order actions")
    before = state()
    path = f"/orders/{quote(token, safe='')}/"
    response = client.post(f"{path}shipping/", {"shipping_preference": preference})
    refused_and_unchanged(response, before, refused=(400, 404))
    response = client.post(f"{path}lines/{quote(line, safe='')}/cancel/")
    refused_and_unchanged(response, before, refused=(400, 404))


@given(line=domain.quantities(), preference=domain.hostile_text())
def test_order_actions_with_the_token_and_bad_values(client, store, line, preference):
    case("order actions with token")
    order = store["order"]
    before = state()
    response = client.post(f"/orders/{order.token}/shipping/", {"shipping_preference": preference})
    refused_and_unchanged(response, before, refused=(400,))
    response = client.post(f"/orders/{order.token}/lines/{quote(line, safe='')}/cancel/")
    # An unknown line of a real order: back to its page with a message; one of its
    # lines: the page that asks how many, changing nothing yet.
    refused_and_unchanged(response, before, refused=(200, 302, 400, 404))


@given(notice=domain.quantities(), answer=domain.hostile_text())
def test_delay_answers_with_bad_values(client, store, notice, answer):
    case("delay answers")
    order = store["order"]
    before = state()
    response = client.post(
        f"/orders/{order.token}/delays/{quote(notice, safe='')}/", {"answer": answer}
    )
    # No notice of this order has that id: refused, or back to its page with a message.
    refused_and_unchanged(response, before, refused=(302, 400, 404))
