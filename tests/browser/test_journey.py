"""The shopper's journey through the real pages, in the system Chromium.

An out-of-stock item is back-ordered from the catalog, the status page shows it waiting
at the head of the queue, stock is received through the real receiving service, and the
same page then shows it allocated, with the "back-order allocated" email sent.
"""

import re

import pytest
from django.core import mail
from playwright.sync_api import Page, expect

from backorders.services import stock_receive
from notifications.models import OutboxEmail
from tests.browser.conftest import card_fill, screenshot_on_failure
from tests.factories import product_create

pytestmark = pytest.mark.browser

SHOPPER_EMAIL = "queue.shopper@example.com"
QUANTITY = 2
STATUS_JSON = "async () => (await fetch('status.json', {cache: 'no-store'})).json()"


def test_backorder_journey_from_catalog_to_allocation(page: Page, tmp_path):
    product = product_create(sku="LANTERN-BO", name="Storm Lantern", on_hand=0)

    with screenshot_on_failure(page, tmp_path / "journey-failure.png"):
        # The catalog says it can be back-ordered; its page says so too, honestly dated.
        page.goto("/")
        card = page.locator(".card").filter(has_text="Storm Lantern")
        expect(card).to_contain_text("Available on back-order")
        card.get_by_role("link", name="Storm Lantern").click()
        expect(page).to_have_url(re.compile(r"/products/lantern-bo/$"))
        expect(page.get_by_role("heading", name="Storm Lantern")).to_be_visible()
        expect(page.locator(".availability")).to_have_text("Available on back-order")
        expect(page.get_by_text("No confirmed date yet")).to_be_visible()

        # Add two to the cart (the form posts to /cart/add/, which redirects to /cart/).
        page.get_by_label("Quantity").fill(str(QUANTITY))
        with page.expect_request(re.compile(r"/cart/add/$")) as add_request:
            page.get_by_role("button", name="Back-order").click()
        assert add_request.value.method == "POST"
        expect(page).to_have_url(re.compile(r"/cart/$"))
        expect(page.get_by_role("status")).to_contain_text(f"Storm Lantern: {QUANTITY} in")
        expect(page.locator("tbody")).to_contain_text(f"{QUANTITY} on back-order")

        # Check out, accepting the back-order terms.
        page.get_by_role("link", name="Check out").click()
        expect(page).to_have_url(re.compile(r"/checkout/$"))
        page.get_by_label("Email").fill(SHOPPER_EMAIL)
        page.get_by_label("Full name").fill("Quinn Queue")
        page.get_by_label("Shipping address").fill("1 Queue Street\nFifo Town")
        card_fill(page)
        page.get_by_label("I agree to wait for the back-ordered items").check()
        page.get_by_label("Ship everything together when all is in").check()
        page.get_by_role("button", name="Place order").click()

        # The status page: the whole line waits, first in its product's queue.
        expect(page).to_have_url(re.compile(r"/orders/[\w-]{43,}/$"))
        row = page.locator(f'tr[data-sku="{product.sku}"]')
        expect(page.get_by_test_id("order-status")).to_have_text("Waiting for back-ordered items")
        expect(row.locator(".line-state")).to_have_text(f"{QUANTITY} back-ordered")
        expect(row).to_contain_text("Place in queue: 1")
        [line] = page.evaluate(STATUS_JSON)["lines"]
        assert line["sku"] == product.sku
        assert line["quantity"] == QUANTITY
        assert line["backordered"] == QUANTITY
        assert line["allocated"] == 0
        assert line["queue_position"] == 1

        # Stock arrives through the real receiving service; on commit the allocation
        # task runs (eagerly, no broker) and serves the queue.
        stock_receive(product=product, quantity=QUANTITY, reference="browser journey")

        page.reload()
        expect(page.get_by_test_id("order-status")).to_have_text("Ready to ship")
        expect(row.locator(".line-state")).to_have_text(
            f"{QUANTITY} reserved for you, ready to ship"
        )
        expect(row).not_to_contain_text("Place in queue")
        [line] = page.evaluate(STATUS_JSON)["lines"]
        assert line["quantity"] == QUANTITY
        assert line["allocated"] == QUANTITY
        assert line["backordered"] == 0
        assert line["queue_position"] is None

    # The shopper was told, exactly once, and the email went out.
    [email] = OutboxEmail.objects.filter(event="backorder_allocated")
    assert email.to_email == SHOPPER_EMAIL
    assert email.status == OutboxEmail.Status.SENT
    assert email.sent_at is not None
    # Delivery ran in this thread (after stock_receive's commit), into locmem's outbox.
    [message] = [m for m in mail.outbox if m.extra_headers.get("X-Outbox-Key") == email.key]
    assert message.to == [SHOPPER_EMAIL]
    assert message.subject == email.subject
