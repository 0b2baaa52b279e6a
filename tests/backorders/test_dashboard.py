"""The staff dashboard: the admin's landing page, its figures, and a number of queries
that does not grow with the data."""

import datetime

import pytest
from django.db import connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from backorders.selectors import dashboard
from backorders.services import backorders_allocate, inbound_announce, stock_receive
from catalog.models import Product
from orders.models import DelayNotice, OrderLine
from tests.factories import backorders_bulk_create, order_create, product_create

pytestmark = pytest.mark.django_db


def queued_days_ago(lines, days: float) -> None:
    OrderLine.objects.filter(pk__in=[line.pk for line in lines]).update(
        queued_at=timezone.now() - datetime.timedelta(days=days)
    )


def delay_notice_open(line: OrderLine) -> DelayNotice:
    return DelayNotice.objects.create(
        line=line,
        promised_by=timezone.localdate(),
        revised_date=None,
        units=line.backordered,
        needs_consent=True,
        answer_by=timezone.localdate() + datetime.timedelta(days=7),
    )


def test_waiting_units_value_and_ages():
    grinder = product_create(sku="GRINDER", price="40.00")
    kettle = product_create(sku="KETTLE", price="25.00")
    order_create({grinder: 3, kettle: 1})
    old = order_create({grinder: 2})
    queued_days_ago(old.lines.all(), 20)

    figures = dashboard()

    assert (figures.units_waiting, figures.orders_waiting, figures.products_waiting) == (6, 2, 2)
    assert figures.value_waiting == 5 * 40 + 25
    assert [(row.sku, row.units, row.value) for row in figures.by_product] == [
        ("GRINDER", 5, 200),
        ("KETTLE", 1, 25),
    ]
    assert {bucket.key: (bucket.lines, bucket.units) for bucket in figures.ages} == {
        "0-7": (2, 4),
        "8-14": (0, 0),
        "15-30": (1, 2),
        "31+": (0, 0),
    }


def test_fill_rate_and_median_wait_over_the_windows():
    kettle = product_create(sku="KETTLE", on_hand=2)
    order_create({kettle: 5})  # 2 from stock, 3 back-ordered
    waits = backorders_bulk_create(kettle, 3)
    lines = [order.lines.get() for order in waits]
    for line, days in zip(lines, (1.5, 2.5, 40.5), strict=True):
        queued_days_ago([line], days)
    # They are ahead of the checkout's back-order: served now, after 1.5 and 2.5 days;
    # the oldest one is said to have been served 35 days ago, after 5.5 days.
    with TestCase.captureOnCommitCallbacks(execute=True):
        stock_receive(product=kettle, quantity=3)
    OrderLine.objects.filter(pk=lines[2].pk).update(
        backorder_served_at=timezone.now() - datetime.timedelta(days=35)
    )

    thirty, ninety = dashboard().service_levels

    assert (thirty.days, ninety.days) == (30, 90)
    # The one order placed through checkout: 5 units, 2 from stock (the bulk-created
    # back-orders' orders count too: 3 units, none from stock).
    assert thirty.units_ordered == ninety.units_ordered == 8
    assert thirty.fill_rate == pytest.approx(2 / 8)
    assert thirty.backorders_served == 2
    assert ninety.backorders_served == 3
    # Of an even count the upper middle one: 2.5 of (1.5, 2.5); 2.5 of (1.5, 2.5, 5.5).
    assert thirty.median_wait_days == pytest.approx(2.5, abs=0.01)
    assert ninety.median_wait_days == pytest.approx(2.5, abs=0.01)


def test_no_orders_no_rates():
    thirty, ninety = dashboard().service_levels
    assert thirty.fill_rate is None and thirty.median_wait is None


def test_shortfall_is_what_neither_stock_nor_inbound_covers():
    grinder = product_create(sku="GRINDER")
    covered = product_create(sku="COVERED")
    order_create({grinder: 30, covered: 4})
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    inbound_announce(product=grinder, quantity=10, expected_date=tomorrow)
    inbound_announce(product=covered, quantity=4, expected_date=tomorrow)

    figures = dashboard()

    assert [(row.sku, row.waiting, row.inbound, row.to_order) for row in figures.shortfalls] == [
        ("GRINDER", 30, 10, 20)
    ]
    assert figures.shortfall_products == 1


def test_delays_awaiting_an_answer_and_orders_ready_to_ship():
    kettle = product_create(sku="KETTLE", on_hand=1)
    grinder = product_create(sku="GRINDER")
    order_create({kettle: 1})  # ready to ship
    waiting = order_create({grinder: 2})
    delay_notice_open(waiting.lines.get())

    figures = dashboard()

    assert figures.orders_ready_to_ship == 1
    assert figures.delays_open == 1
    assert [n.line.order.number for n in figures.delays_oldest] == [waiting.number]


def dashboard_queries(client) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/admin/")
    assert response.status_code == 200
    return len(captured)


def test_the_page_runs_the_same_queries_whatever_the_data_size(service_client):
    def grow(products: int, queue: int) -> None:
        """Products with queues, a delay notice each, and some back-orders served."""
        for _ in range(products):
            product = product_create(sku=f"P{Product.objects.count()}")
            orders = backorders_bulk_create(product, queue)
            delay_notice_open(orders[-1].lines.get())
            stock_receive(product=product, quantity=queue // 2)
            backorders_allocate(product_id=product.pk)

    grow(1, 2)
    small = dashboard_queries(service_client)
    grow(30, 20)
    large = dashboard_queries(service_client)

    assert small == large
    assert large <= 20, large


def test_staff_see_the_dashboard_with_charts_and_tables(service_client):
    grinder = product_create(sku="GRINDER", name="Burr grinder <b>pro</b>")
    order_create({grinder: 3})
    page = service_client.get("/admin/").content.decode()

    assert "Waiting by product" in page and "What purchasing should order" in page
    assert page.count('class="pygal-chart"') == 2
    assert "<script" not in page.split('id="content-main"')[1].split("</main>")[0]
    assert "Burr grinder &lt;b&gt;pro&lt;/b&gt;" in page  # escaped, in table and chart
    assert "<b>pro</b>" not in page
    assert "<strong>3</strong> units waiting" in page


def test_staff_without_the_permission_get_the_app_list(unprivileged_staff_client):
    page = unprivileged_staff_client.get("/admin/").content.decode()
    assert "Site administration" in page
    assert "Waiting by product" not in page


def test_the_migration_dates_back_orders_served_before_it_from_the_ledger():
    import importlib

    from django.apps import apps

    from catalog.models import StockMovement

    migration = importlib.import_module("orders.migrations.0007_backorder_served_at")
    kettle = product_create(sku="KETTLE")
    waiting, served = order_create({kettle: 1}), order_create({kettle: 2})
    served_line = served.lines.get()
    OrderLine.objects.filter(pk=waiting.lines.get().pk).update(priority=-1)
    stock_receive(product=kettle, quantity=2)
    backorders_allocate(product_id=kettle.pk)
    OrderLine.objects.update(backorder_served_at=None)  # as before the migration

    migration.served_at_from_ledger(apps, None)

    allocation = StockMovement.objects.get(kind="allocation", reference=served_line.reference)
    assert OrderLine.objects.get(pk=served_line.pk).backorder_served_at == allocation.created_at
    assert OrderLine.objects.get(order=waiting).backorder_served_at is None
