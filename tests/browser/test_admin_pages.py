"""Every admin page staff work in, in the system Chromium at phone and desktop width:
no serious or critical axe violation, nothing cut off or scrolling sideways, no console
error (the Journey checks)."""

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from backorders.services import inbound_announce
from notifications.models import OutboxEmail
from tests.browser.conftest import DESKTOP, PHONE, Journey, screenshot_on_failure
from tests.factories import order_create, product_create

pytestmark = pytest.mark.browser


def admin_pages() -> list[tuple[str, str]]:
    kettle = product_create(sku="KETTLE", name="Gooseneck kettle", on_hand=3)
    grinder = product_create(sku="GRINDER", name="Burr grinder")
    inbound = inbound_announce(
        product=grinder,
        quantity=2,
        expected_date=timezone.localdate() + datetime.timedelta(days=9),
        reference="PO-9",
    )
    order = order_create({kettle: 1, grinder: 3})
    order_create({kettle: 1}, shipping_preference="ship_together")
    email = OutboxEmail.objects.filter(to_email=order.email).first()
    return [
        ("dashboard", reverse("admin:index")),
        ("orders", reverse("admin:orders_order_changelist")),
        ("order", reverse("admin:orders_order_change", args=[order.pk])),
        ("shipping", reverse("admin:orders_order_changelist") + "?ships_now=yes"),
        ("queue", reverse("admin:backorders_queuedbackorder_changelist")),
        ("stock", reverse("admin:backorders_productstock_changelist")),
        ("receive", reverse("admin:backorders_productstock_receive", args=[grinder.pk])),
        ("receipts", reverse("admin:backorders_productstock_receipts")),
        ("inbounds", reverse("admin:backorders_inboundshipment_changelist")),
        ("inbound", reverse("admin:backorders_inboundshipment_change", args=[inbound.pk])),
        ("inbound-receive", reverse("admin:backorders_inboundshipment_receive", args=[inbound.pk])),
        ("signups", reverse("admin:backorders_backinstocksignup_changelist")),
        ("products", reverse("admin:catalog_product_changelist")),
        ("product", reverse("admin:catalog_product_change", args=[kettle.pk])),
        ("ledger", reverse("admin:catalog_stockmovement_changelist")),
        ("emails", reverse("admin:notifications_outboxemail_changelist")),
        ("email", reverse("admin:notifications_outboxemail_change", args=[email.pk])),
    ]


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390", "1280"])
def test_every_staff_page_is_finished(page: Page, viewport, request, tmp_path):
    pages = admin_pages()
    get_user_model().objects.create_superuser("boss", "boss@example.com", "right-password-1")
    journey = Journey(page, request.node.name, viewport)
    with screenshot_on_failure(page, tmp_path / "failure.png"):
        page.goto("/admin/login/")
        journey.step("login")
        page.get_by_label("Username").fill("boss")
        page.get_by_label("Password").fill("right-password-1")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
        for name, url in pages:
            page.goto(url)
            journey.step(name)
