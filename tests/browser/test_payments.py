"""Paying, as a shopper does it, at phone and desktop width (issue 9): the checkout
states what is charged now and what on shipment, a declined card is a clear error
with nothing placed, a test card pays; Stripe's checkout through localstripe's fake
Stripe.js; and a customer whose card failed later pays on the order page."""

import re

import pytest
from playwright.sync_api import Page, expect

from backorders.services import stock_receive
from orders.models import Order
from tests.browser.conftest import DESKTOP, PHONE, Journey, card_fill, screenshot_on_failure
from tests.browser.test_strict_pages import refused_by_policy
from tests.factories import order_checkout_create, product_create

pytestmark = pytest.mark.browser


def shop(page: Page, *products) -> None:
    for product, quantity in products:
        page.goto(product.get_absolute_url())
        page.get_by_label("Quantity").fill(str(quantity))
        page.get_by_role("button", name=re.compile("Add to cart|Back-order")).click()
        # Wait for the cart, as a shopper does: going on at once aborts its request.
        expect(page.get_by_role("status")).to_contain_text(f"{product.name}: {quantity} in")
    page.get_by_role("link", name="Check out").click()
    page.get_by_label("Email").fill("pat@example.com")
    page.get_by_label("Full name").fill("Pat Payer")
    page.get_by_label("Shipping address").fill("3 Card Court")
    page.get_by_label("I agree to wait for the back-ordered items").check()


VIEWPORTS = pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390", "1280"])


@VIEWPORTS
def test_a_shopper_sees_what_is_charged_when_and_pays_with_a_test_card(
    page: Page, tmp_path, viewport, request
):
    lamp = product_create(sku="LAMP", name="Desk lamp", price="25.00", on_hand=1)
    tent = product_create(sku="TENT", name="Trail tent", price="40.00")
    step = Journey(page, request.node.name, viewport).step
    with screenshot_on_failure(page, tmp_path / "failure.png"):
        shop(page, (lamp, 1), (tent, 1))
        summary = page.get_by_test_id("payment-summary")
        expect(summary).to_contain_text("Order total$65.00")
        expect(summary).to_contain_text("Charged now$25.00 for the items in stock")
        expect(summary).to_contain_text("Charged when the back-ordered items ship$40.00")
        card_fill(page, "4000 0000 0000 0002")
        step("checkout")
        page.get_by_role("button", name="Place order and pay $25.00").click()
        expect(page.get_by_role("alert").first).to_contain_text(
            "Your card was declined. Nothing was charged and no order placed."
        )
        step("declined")
        assert not Order.objects.exists()
        card_fill(page)
        page.get_by_role("button", name="Place order and pay $25.00").click()
        expect(page).to_have_url(re.compile(r"/orders/[\w-]{43,}/$"))
        payment = page.get_by_test_id("order-payment")
        expect(payment).to_contain_text("Card ending 4242")
        expect(payment).to_contain_text("Paid $25.00")
        expect(payment).to_contain_text("$40.00 is charged when the back-ordered items ship")
        step("paid")


@VIEWPORTS
def test_a_customer_whose_card_failed_pays_with_another_on_the_order_page(
    page: Page, tmp_path, viewport, run_on_commit, request
):
    tent = product_create(sku="TENT", name="Trail tent", price="40.00")
    order = order_checkout_create({tent: 1}, card_number="4000 0000 0000 0341")
    run_on_commit(stock_receive, product=tent, quantity=1, reference="PO-1")
    step = Journey(page, request.node.name, viewport).step
    with screenshot_on_failure(page, tmp_path / "failure.png"):
        page.goto(order.get_absolute_url())
        due = page.get_by_test_id("payment-due")
        expect(due).to_contain_text("could not charge $40.00 to your card ending 0341")
        card_fill(page)
        step("payment-due")
        page.get_by_role("button", name="Pay $40.00").click()
        expect(page.get_by_role("status")).to_contain_text("Thank you: $40.00 is paid")
        expect(page.get_by_test_id("order-payment")).to_contain_text("Nothing more to pay")
        step("paid")
    assert order.lines.get().paid == 1


@VIEWPORTS
def test_a_stripe_checkout_saves_the_card_in_the_browser_and_charges_it(
    page: Page, tmp_path, viewport, stripe_provider, request
):
    lamp = product_create(sku="LAMP", name="Desk lamp", price="25.00", on_hand=1)
    tent = product_create(sku="TENT", name="Trail tent", price="40.00")
    refused = refused_by_policy(page)
    # The card field is Stripe's (here localstripe's stand-in), not the store's page.
    journey = Journey(page, request.node.name, viewport, axe_exclude="#card-element")
    with screenshot_on_failure(page, tmp_path / "failure.png"):
        shop(page, (lamp, 1), (tent, 1))
        card = page.locator("#card-element")

        def stripe_card(number: str) -> None:  # localstripe's fake card field
            card.get_by_placeholder("number").fill(number)
            card.get_by_placeholder("exp_month").fill("12")
            card.get_by_placeholder("exp_year").fill("39")
            card.get_by_placeholder("cvc").fill("123")
            card.get_by_placeholder("postal_code").fill("10001")

        stripe_card("4000000000000002")
        page.get_by_role("button", name="Place order and pay $25.00").click()
        expect(page.locator("#card-errors")).to_contain_text("declined. Nothing was charged.")
        journey.expected_failure()  # Stripe answered the declined card with a 402
        journey.step("declined")
        assert not Order.objects.exists()
        stripe_card("4242424242424242")
        journey.step("checkout")
        page.get_by_role("button", name="Place order and pay $25.00").click()
        expect(page).to_have_url(re.compile(r"/orders/[\w-]{43,}/$"))
        expect(page.get_by_test_id("order-payment")).to_contain_text("Paid $25.00")
        journey.step("paid")
    assert refused == []  # the CSP admits Stripe.js and its API, nothing else
    order = Order.objects.get()
    (charge,) = order.payments.all()
    assert charge.provider == "stripe" and charge.provider_id.startswith("pi_")
