"""Every customer email's HTML, rendered in Chromium at phone and desktop widths."""

import pytest

from backorders.services import (
    back_in_stock_signup,
    backorder_reminders_queue,
    backorders_allocate,
    stock_receive,
)
from catalog.policy import BackorderPolicy
from notifications.models import OutboxEmail
from notifications.rendering import email_render
from orders.models import OrderLine
from orders.services import order_cancel_backorders, order_ship
from tests.factories import order_create, product_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db]

EVENTS = [
    "order_placed",
    "backorder_allocated",
    "shipped",
    "backorder_cancelled",
    "backorder_reminder",
    "back_in_stock",
]


@pytest.fixture
def outbox():
    """One email of each event, written by the real services."""
    kettle = product_create(
        sku="KETTLE", name="Gooseneck kettle with a rather long name", on_hand=3
    )
    grinder = product_create(sku="GRINDER", name="Conical burr grinder")
    timer = product_create(sku="TIMER", name="Kitchen timer", policy=BackorderPolicy.DENY)
    order = order_create({kettle: 1, grinder: 3})
    stock_receive(product=grinder, quantity=1)
    backorders_allocate(product_id=grinder.pk)
    order_ship(order=order)
    order_cancel_backorders(
        order=order, line_ids=[order.lines.get(product=grinder).pk], reason="Discontinued."
    )
    back_in_stock_signup(product=timer, email="sam@example.com")
    stock_receive(product=timer, quantity=1)
    waiting = order_create({grinder: 1})
    OrderLine.objects.filter(order=waiting).update(queued_at="2020-01-01T00:00:00Z")
    backorder_reminders_queue()
    return {email.event: email for email in OutboxEmail.objects.all()}


@pytest.mark.parametrize("width", [360, 800])
def test_html_emails_fit_the_screen_with_a_visible_link(browser, outbox, width, tmp_path):
    assert sorted(outbox) == sorted(EVENTS)
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    for event in EVENTS:
        email = outbox[event]
        page.set_content(email_render(event=event, context=email.context).html)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{event} is {overflow}px wider than a {width}px screen"
        link = page.get_by_role("link").first
        box = link.bounding_box()
        assert box and box["width"] > 40 and box["x"] + box["width"] <= width, event
        assert link.get_attribute("href").startswith("http://testserver/")
        assert page.locator("h1").inner_text().strip(), event
        shot = tmp_path / f"{event}-{width}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 2000
    context.close()
