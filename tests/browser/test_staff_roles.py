"""Staff at work in the system Chromium, at phone and desktop width, one journey per
role: the warehouse lands on the dashboard, reads the queue, receives stock after its
preview and uploads a delivery's CSV; customer service lands on the dashboard, moves a
back-order to the front with a reason and is refused receiving. Every step passes the
Journey checks (axe, nothing cut off, no console error)."""

import datetime

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone
from playwright.sync_api import Page, expect

from backorders.roles import CUSTOMER_SERVICE, WAREHOUSE, roles_sync
from orders.models import OrderLine
from tests.browser.conftest import DESKTOP, PHONE, Journey, screenshot_on_failure
from tests.factories import order_create, product_create

pytestmark = pytest.mark.browser
VIEWPORTS = pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390", "1280"])


@pytest.fixture
def store():
    grinder = product_create(sku="GRINDER", name="Burr grinder", price="120.00")
    kettle = product_create(sku="KETTLE", name="Gooseneck kettle", on_hand=4)
    orders = [
        order_create({grinder: units}, email=f"shopper{units}@example.com") for units in (2, 1, 3)
    ]
    OrderLine.objects.filter(order=orders[0]).update(
        queued_at=timezone.now() - datetime.timedelta(days=20)
    )
    order_create({kettle: 1}, email="ready@example.com")
    return {"grinder": grinder, "kettle": kettle, "orders": orders}


def staff_login(page: Page, role: str) -> None:
    roles_sync(apps)  # the live server's database is flushed after each test, groups too
    user = get_user_model().objects.create_user(role.lower(), password="staff-password-1")
    user.is_staff = True
    user.save()
    user.groups.add(Group.objects.get(name=role))
    page.goto("/admin/")
    page.get_by_label("Username").fill(role.lower())
    page.get_by_label("Password").fill("staff-password-1")
    page.get_by_role("button", name="Log in").click()


@VIEWPORTS
def test_the_warehouse_sees_the_queue_and_receives(page: Page, store, viewport, request, tmp_path):
    first, second, third = store["orders"]
    journey = Journey(page, request.node.name, viewport)
    with screenshot_on_failure(page, tmp_path / "failure.png"):
        staff_login(page, WAREHOUSE)
        expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
        expect(page.get_by_role("link", name="6 units waiting")).to_be_visible()
        expect(page.get_by_role("table", name="Waiting back-orders by days")).to_contain_text(
            "15–30 days"
        )
        journey.step("dashboard")

        page.get_by_role("link", name="6 units waiting").click()
        expect(page.locator("#result_list")).to_contain_text(first.number)
        expect(page.get_by_label("Action:")).to_have_count(0)  # no queue actions for them
        journey.step("queue")

        page.goto("/admin/backorders/productstock/")
        page.get_by_role("row", name="GRINDER").get_by_role("link", name="Receive").click()
        page.get_by_label("Units").fill("3")
        page.get_by_label("Reference").fill("DN-100")
        page.get_by_role("button", name="Preview").click()
        expect(page.get_by_role("status")).to_contain_text(
            f"These 3 units will go to 2 waiting orders, head of the queue first: "
            f"{first.number}, {second.number}."
        )
        journey.step("receive-preview")
        page.get_by_role("button", name="Receive").click()
        expect(page.locator(".messagelist")).to_contain_text("Received 3 × GRINDER")
        journey.step("received")

        page.get_by_role("link", name="Receive a delivery (CSV)").click()
        delivery = tmp_path / "delivery.csv"
        delivery.write_text("sku,quantity,reference\nGRINDER,3,DN-100\nNOPE,1,DN-101\n")
        page.get_by_label("CSV file").set_input_files(delivery)
        page.get_by_role("button", name="Check and receive").click()
        expect(page.get_by_role("alert")).to_contain_text("Nothing was received")
        expect(page.get_by_text("Row 2: reference 'DN-100' was received already.")).to_be_visible()
        expect(page.get_by_text("Row 3: unknown SKU 'NOPE'.")).to_be_visible()
        journey.step("csv-refused")
        delivery.write_text("sku,quantity,reference\nGRINDER,3,DN-102\nKETTLE,6,DN-103\n")
        page.get_by_label("CSV file").set_input_files(delivery)
        page.get_by_role("button", name="Check and receive").click()
        expect(page.locator(".messagelist")).to_contain_text("Received 9 units in 2 receipts")
        journey.step("csv-received")
    assert OrderLine.objects.get(order=third).allocated == 3  # the workers (eager) served all


@VIEWPORTS
def test_customer_service_moves_a_back_order_to_the_front(
    page: Page, store, viewport, request, tmp_path
):
    first, second, third = store["orders"]
    journey = Journey(page, request.node.name, viewport)
    with screenshot_on_failure(page, tmp_path / "failure.png"):
        staff_login(page, CUSTOMER_SERVICE)
        expect(page.get_by_role("link", name="1 order ready to ship")).to_be_visible()
        journey.step("dashboard")

        page.get_by_role("link", name="Burr grinder").first.click()
        row = page.get_by_role("row", name=third.number)
        row.get_by_role("checkbox").check()
        page.get_by_label("Action:").select_option("move_to_front")
        page.get_by_role("button", name="Go").click()
        expect(page.get_by_text("These back-orders will be served before")).to_be_visible()
        journey.step("reason-asked")
        page.get_by_label("Reason (kept on each order's timeline)").fill("Replacement for damage")
        page.get_by_role("button", name="Move to the front").click()
        expect(page.locator(".messagelist")).to_contain_text("Moved 1 back-order(s)")
        expect(page.get_by_role("row", name=third.number)).to_contain_text("1")
        journey.step("moved")

        page.get_by_role("link", name=third.number).click()
        expect(page.get_by_text("Reason: Replacement for damage")).to_be_visible()
        journey.step("timeline")

        page.goto(f"/admin/backorders/productstock/{store['grinder'].pk}/receive/")
        expect(page.get_by_text("403 Forbidden")).to_be_visible()
    assert OrderLine.objects.get(order=first).allocated == 0
