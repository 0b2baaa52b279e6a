"""A customer whose supplier slipped, in the system Chromium at phone and desktop
width: staff move the inbound's date in the admin, the customer's order page shows the
delay notice with both choices, and one click to wait keeps their place with the new
date as the promise. Nothing sticks out past the right edge."""

import datetime

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from backorders.services import inbound_announce
from orders.models import DelayNotice
from tests.browser.conftest import screenshot_on_failure
from tests.factories import order_create, product_create

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [390, 1280])
def test_staff_slip_an_inbound_and_the_customer_chooses_to_wait(page: Page, tmp_path, width):
    grinder = product_create(sku="GRINDER", name="Burr grinder")
    today = datetime.date.today()
    inbound_announce(
        product=grinder,
        quantity=5,
        expected_date=today + datetime.timedelta(days=10),
        reference="PO-77",
    )
    order = order_create({grinder: 1})
    get_user_model().objects.create_superuser("boss", "boss@example.com", "right-password-1")
    slipped = today + datetime.timedelta(days=60)
    page.set_viewport_size({"width": width, "height": 900})
    with screenshot_on_failure(page, tmp_path / f"delay-{width}-failure.png"):
        page.goto("/admin/backorders/inboundshipment/")
        page.get_by_label("Username").fill("boss")
        page.get_by_label("Password").fill("right-password-1")
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("link", name="PO-77").click()
        page.get_by_label("Expected date").fill(slipped.isoformat())
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.locator(".messagelist")).to_contain_text("changed successfully")

        page.goto(order.get_absolute_url())
        notice = page.get_by_test_id("delay-notice")
        expect(notice).to_contain_text("Burr grinder is delayed")
        expect(notice).to_contain_text("Please answer by")
        page.screenshot(path=str(tmp_path / f"delay-notice-{width}.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        new_promise = slipped + datetime.timedelta(days=2)
        notice.get_by_role("button", name=f"Wait for {new_promise:%-d %B %Y}").click()
        expect(page.get_by_text("we keep your place in the queue")).to_be_visible()
        expect(page.get_by_test_id("delay-notice")).to_have_count(0)
        expect(page.get_by_text(f"We promise to ship by {new_promise:%-d %B %Y}")).to_be_visible()
    assert DelayNotice.objects.get().outcome == "wait"
