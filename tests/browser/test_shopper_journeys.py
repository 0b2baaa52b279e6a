"""The journeys of a shopper and a customer (issue 11), at phone and desktop width;
every step is checked and screenshotted by tests.browser.conftest.Journey."""

import re

import pytest
from playwright.sync_api import Page, expect

from orders.models import Order
from tests.browser.conftest import DESKTOP, PHONE, Journey, card_fill, screenshot_on_failure
from tests.factories import order_checkout_create, product_create

pytestmark = pytest.mark.browser

VIEWPORTS = pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390", "1280"])


def cards(page: Page):
    return page.locator(".grid .card h2")


@pytest.fixture
def store(db):
    grinder = product_create(sku="GRINDER", name="Burr grinder", price="100.00")
    grinder.backorder_discount_percent = 10
    grinder.save(update_fields=["backorder_discount_percent"])
    return {
        "grinder": grinder,
        "kettle": product_create(sku="KETTLE", name="Gooseneck kettle", price="40.00", on_hand=5),
        "filters": product_create(sku="FILTERS", name="Paper filters", price="6.50", on_hand=50),
    }


@VIEWPORTS
def test_a_shopper_browses_searches_sorts_filters_and_buys_a_mix(
    page: Page, tmp_path, viewport, store, request
):
    step = Journey(page, request.node.name, viewport).step
    with screenshot_on_failure(page, tmp_path / "failure.png"):
        page.goto("/")
        expect(cards(page)).to_have_count(3)
        step("catalog")

        page.get_by_label("Search").fill("kettle")
        page.get_by_label("Search").press("Enter")
        expect(cards(page)).to_have_text(["Gooseneck kettle"])
        step("search")

        page.get_by_label("Search").fill("")
        page.get_by_label("Sort by").select_option(label="Price, high to low")  # applies at once
        expect(cards(page)).to_have_text(["Burr grinder", "Gooseneck kettle", "Paper filters"])
        step("sorted")

        page.get_by_label("In stock now").check()
        expect(cards(page)).to_have_text(["Gooseneck kettle", "Paper filters"])
        step("in-stock")

        page.get_by_role("link", name="Gooseneck kettle").click()
        page.get_by_role("button", name="Add to cart").click()
        expect(page.get_by_role("status")).to_contain_text("Gooseneck kettle: 1 in your cart")
        page.get_by_role("link", name="Continue shopping").click()
        page.get_by_role("link", name="Burr grinder").click()
        expect(page.get_by_test_id("backorder-discount")).to_contain_text("10% off")
        step("discount")
        page.get_by_role("button", name="Back-order").click()
        expect(page.locator("main")).to_contain_text("−$10.00")
        step("cart")

        page.get_by_role("link", name="Check out").click()
        expect(page.get_by_test_id("payment-summary")).to_contain_text("Order total$130.00")
        page.get_by_label("Email").fill("sam@example.com")
        page.get_by_label("Full name").fill("Sam Shopper")
        page.get_by_label("Shipping address").fill("1 Queue Street")
        page.get_by_label("I agree to wait for the back-ordered items").check()
        card_fill(page)
        step("checkout")
        page.get_by_role("button", name="Place order and pay $40.00").click()

        order = Order.objects.get()
        expect(page.get_by_role("status")).to_have_text(
            f"Thank you: order {order.number} is placed. We emailed the confirmation to "
            "sam@example.com."
        )
        expect(page.locator("main")).to_contain_text("−$10.00 back-order discount")
        step("confirmation")
    assert {line.product.sku: line.line_total for line in order.lines.all()} == {
        "KETTLE": 40,
        "GRINDER": 90,
    }


@VIEWPORTS
def test_a_customer_finds_the_order_cancels_one_unit_switches_shipping_and_follows_the_email(
    page: Page, tmp_path, viewport, store, settings, request
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = tmp_path / "mail"
    order = order_checkout_create({store["grinder"]: 2}, email="cai@example.com")
    step = Journey(page, request.node.name, viewport).step
    with screenshot_on_failure(page, tmp_path / "failure.png"):
        page.goto("/orders/lookup/")
        page.get_by_label("Order number").fill(order.number)
        page.get_by_label("Email used at checkout").fill("cai@example.com")
        step("lookup")
        page.get_by_role("button", name="Show my order").click()
        expect(page.get_by_role("heading", name=f"Order {order.number}")).to_be_visible()
        step("order")

        page.get_by_role("button", name="Cancel back-ordered units…").click()
        page.get_by_label("How many of the 2 to cancel").fill("1")
        step("confirm-cancel")
        page.get_by_role("button", name="Yes, cancel them").click()
        expect(page.get_by_role("status")).to_contain_text("1 still on back-order")
        step("cancelled-one")

        page.get_by_role("button", name="Wait and ship everything together").click()
        expect(page.get_by_text("We will ship everything together")).to_be_visible()
        step("ship-together")

        (mail_file, *_) = sorted((tmp_path / "mail").iterdir())
        link = re.search(r"http://testserver(/orders/[\w-]+/)", mail_file.read_text())
        page.goto(link.group(1))  # the link in the order-placed email
        expect(page.get_by_role("heading", name=f"Order {order.number}")).to_be_visible()
        expect(page.get_by_text("1 cancelled", exact=True)).to_be_visible()
        step("from-email")
    order.refresh_from_db()
    assert order.shipping_preference == "ship_all_together"
    assert (order.lines.get().backordered, order.lines.get().cancelled) == (1, 1)
