"""The pages under the Content-Security-Policy, in the system Chromium: nothing on a shop
page or in the admin is refused by the policy, and a shopper whose item sold out while
they were checking out is told so, at phone and desktop width, and places the order
with one more click."""

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from tests.browser.conftest import DESKTOP, PHONE, Journey, card_fill, screenshot_on_failure
from tests.factories import order_create, product_create

pytestmark = pytest.mark.browser


def refused_by_policy(page: Page) -> list[str]:
    """Collects what the browser refuses under the page's CSP from now on."""
    refused = []
    page.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    return refused


def test_no_page_breaks_the_content_security_policy(page: Page, tmp_path):
    kettle = product_create(sku="KETTLE", name="Kettle", on_hand=1)
    order = order_create({kettle: 2})
    get_user_model().objects.create_superuser("boss", "boss@example.com", "right-password-1")
    refused = refused_by_policy(page)
    with screenshot_on_failure(page, tmp_path / "csp-failure.png"):
        for url in ["/", kettle.get_absolute_url(), "/cart/", order.get_absolute_url()]:
            page.goto(url)
            expect(page.locator("main")).to_be_visible()
        page.goto("/admin/")
        page.get_by_label("Username").fill("boss")
        page.get_by_label("Password").fill("right-password-1")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
        page.goto("/admin/notifications/outboxemail/")
        page.locator("#result_list tbody a").first.click()
        expect(page.get_by_title("Email preview")).to_be_visible()
        page.goto("/admin/orders/order/")
        page.get_by_role("checkbox").first.check()  # the admin's own script is allowed
        expect(page.locator(".action-counter")).to_contain_text("1 of 1 selected")
    assert refused == []


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390", "1280"])
def test_a_shopper_told_stock_changed_places_the_order_with_one_more_click(
    page: Page, tmp_path, viewport, request
):
    kettle = product_create(sku="KETTLE", name="Kettle", on_hand=1)
    step = Journey(page, request.node.name, viewport).step
    with screenshot_on_failure(page, tmp_path / "failure.png"):
        page.goto(kettle.get_absolute_url())
        page.get_by_role("button", name="Add to cart").click()
        page.get_by_role("link", name="Check out").click()
        expect(page.get_by_text("1 in stock")).to_be_visible()
        page.get_by_label("Email").fill("late@example.com")
        page.get_by_label("Full name").fill("Lee Late")
        page.get_by_label("Shipping address").fill("2 Slow Lane")
        card_fill(page)
        step("checkout")
        order_create({kettle: 1})  # someone else takes the last one meanwhile
        page.get_by_role("button", name="Place order").click()

        expect(page.get_by_role("alert").first).to_contain_text(
            "Stock changed while you were checking out"
        )
        expect(page.get_by_text("1 on back-order")).to_be_visible()
        expect(page.get_by_label("Email")).to_have_value("late@example.com")
        expect(page.get_by_text("Tick this box to place the order")).to_be_visible()
        step("stock-changed")

        page.get_by_label("I agree to wait for the back-ordered items").check()
        page.get_by_role("button", name="Place order").click()
        expect(page).to_have_url(re.compile(r"/orders/[\w-]{43,}/$"))
        expect(page.get_by_text("Thank you: order")).to_be_visible()
        step("placed")
