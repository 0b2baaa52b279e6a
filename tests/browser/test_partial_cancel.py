"""A customer with two units waiting cancels one, after being asked to confirm, at
phone and desktop width; the other keeps its place."""

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot_on_failure
from tests.factories import order_create, product_create

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [390, 1280])
def test_cancel_one_of_two_back_ordered_units_after_confirming(page: Page, tmp_path, width):
    grinder = product_create(sku="GRINDER", name="Burr grinder")
    order = order_create({grinder: 2})
    page.set_viewport_size({"width": width, "height": 900})
    with screenshot_on_failure(page, tmp_path / f"partial-cancel-{width}-failure.png"):
        page.goto(order.get_absolute_url())
        page.get_by_role("button", name="Cancel back-ordered units…").click()
        expect(page.get_by_role("heading", name="Cancel back-ordered units?")).to_be_visible()
        page.get_by_label("How many of the 2 to cancel").fill("1")
        page.screenshot(path=str(tmp_path / f"confirm-{width}.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.get_by_role("button", name="Yes, cancel them").click()
        expect(page.get_by_role("status")).to_contain_text(
            "Cancelled 1 back-ordered × Burr grinder; 1 still on back-order"
        )
        expect(page.get_by_text("1 back-ordered", exact=True)).to_be_visible()
        expect(page.get_by_text("1 cancelled", exact=True)).to_be_visible()
    line = order.lines.get()
    assert (line.backordered, line.cancelled) == (1, 1)
