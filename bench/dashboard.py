"""Staff dashboard: the admin's landing page over 100,000 waiting back-orders.

Data, written set-based: 500 products, 200 one-unit back-orders waiting on each
(100,000 orders), queued over the last 60 days so that every age bucket holds some;
50,000 more orders whose back-order the queue has served over the last 90 days (a fifth
of them ready to ship); a
confirmed inbound for every other product; an open delay notice on 1,000 lines.

Measured: GET /admin/ by a logged-in staff user with the dashboard permission, through
Django's whole request cycle in this process (middleware, session, the figures'
queries, the charts, the template), REQUESTS times after one warm-up. Target: median
< 300 ms (the issue). Also printed: p95, the queries per page, and PostgreSQL's and this
process's CPU per page. Check: the page's headline shows the 100,000 units waiting and
every bucket of the age table adds up to them.
"""

import datetime
import statistics
import time

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import connection
from django.test import Client, override_settings
from django.utils import timezone

from backorders.roles import CUSTOMER_SERVICE
from backorders.selectors import dashboard
from bench.harness import (
    CpuMeter,
    Report,
    Target,
    bench_database,
    database_settle,
    percentile,
    postgres_server,
    section,
    this_process,
)
from catalog.models import Category, Inbound, Product
from catalog.selectors import promise_date
from orders.models import DelayNotice, Order, OrderLine

NAME = "dashboard"
PRODUCTS = 500
WAITING_PER_PRODUCT = 200
SERVED = 50_000
DELAY_NOTICES = 1_000
REQUESTS = 20
BATCH = 10_000
TARGET_SECONDS = Target(0.300, at_least=False)
TABLES = ["catalog_product", "catalog_inbound", "orders_order", "orders_orderline",
          "orders_delaynotice"]  # fmt: skip
CPU_GROUPS = {"postgres": postgres_server, "this process": this_process}


def store_build() -> None:
    category = Category.objects.create(name="Bench", slug="bench")
    products = Product.objects.bulk_create(
        Product(
            sku=f"DASH-{n}",
            slug=f"dash-{n}",
            name=f"Bench item {n}",
            category=category,
            price="10.00",
            backordered=WAITING_PER_PRODUCT,
        )
        for n in range(PRODUCTS)
    )
    now = timezone.now()
    promise = promise_date(None)
    waiting = PRODUCTS * WAITING_PER_PRODUCT
    for start in range(0, waiting + SERVED, BATCH):
        numbers = range(start, min(start + BATCH, waiting + SERVED))
        orders = Order.objects.bulk_create(
            Order(email=f"b{n}@example.com", name="B", shipping_address="1 Bench Way")
            for n in numbers
        )
        lines = []
        for n, order in zip(numbers, orders, strict=True):
            product = products[n % PRODUCTS]
            line = OrderLine(
                order=order,
                product=product,
                unit_price=product.price,
                quantity=1,
                queued_units=1,
                promised_by=promise,
            )
            if n < waiting:  # queued over the last 60 days
                line.backordered = 1
                line.queued_at = now - datetime.timedelta(minutes=n * 60 * 24 * 60 // waiting)
            else:  # served over the last 90 days, after a wait of up to 20 days
                served = now - datetime.timedelta(minutes=(n - waiting) * 60 * 24 * 90 // SERVED)
                # a fifth of them allocated and not yet shipped: the shipping list
                line.allocated, line.shipped = (1, 0) if n % 5 == 0 else (0, 1)
                line.backorder_served_at = served
                line.queued_at = served - datetime.timedelta(hours=n % (24 * 20))
            lines.append(line)
        OrderLine.objects.bulk_create(lines)
    Inbound.objects.bulk_create(
        Inbound(product=product, quantity=150, expected_date=timezone.localdate() + datetime.
                timedelta(days=10 + n % 30))
        for n, product in enumerate(products[::2])
    )  # fmt: skip
    DelayNotice.objects.bulk_create(
        DelayNotice(
            line=line,
            promised_by=promise,
            units=1,
            needs_consent=True,
            answer_by=timezone.localdate() + datetime.timedelta(days=line.pk % 14),
        )
        for line in OrderLine.objects.filter(backordered=1).order_by("pk")[:DELAY_NOTICES]
    )


def staff_client() -> Client:
    user = get_user_model().objects.create_user("bench-staff", is_staff=True)
    user.groups.add(Group.objects.get(name=CUSTOMER_SERVICE))
    client = Client()
    client.force_login(user)
    return client


def run() -> list:
    section(
        f"Staff dashboard: {PRODUCTS * WAITING_PER_PRODUCT:,} waiting back-orders on "
        f"{PRODUCTS} products, {SERVED:,} served"
    )
    report = Report(NAME)
    with bench_database(NAME), override_settings(ALLOWED_HOSTS=["testserver"]):
        built = time.perf_counter()
        store_build()
        database_settle(*TABLES)
        report.note(f"data written and settled in {time.perf_counter() - built:.0f} s")
        call_command("collectstatic", interactive=False, verbosity=0)  # DEBUG off: a manifest
        client = staff_client()

        def page() -> bytes:
            response = client.get("/admin/", secure=True)
            assert response.status_code == 200, response.status_code
            return response.content

        statements = []
        with connection.execute_wrapper(lambda execute, sql, *args: statements.append(sql)
                                        or execute(sql, *args)):  # fmt: skip
            body = page().decode()  # the warm-up
        seconds, postgres_cpu, python_cpu = [], [], []
        for _ in range(REQUESTS):
            with CpuMeter(CPU_GROUPS) as cpu:
                start = time.perf_counter()
                page()
                seconds.append(time.perf_counter() - start)
            postgres_cpu.append(cpu.used["postgres"])
            python_cpu.append(cpu.used["this process"])
        ordered = sorted(seconds)
        report.add(f"GET /admin/, median of {REQUESTS}", statistics.median(seconds), "s",
                   TARGET_SECONDS)  # fmt: skip
        report.add(f"GET /admin/, p95 of {REQUESTS}", percentile(ordered, 0.95), "s")
        report.add("  queries per page", len(statements), "")
        report.add("  PostgreSQL CPU per page, median", statistics.median(postgres_cpu), "s")
        report.add("  this process's CPU per page, median", statistics.median(python_cpu), "s")
        figures = dashboard()
        problems = []
        if f"<strong>{PRODUCTS * WAITING_PER_PRODUCT:,}</strong> units waiting" not in body:
            problems.append("the headline does not show 100,000 units waiting")
        if sum(bucket.units for bucket in figures.ages) != figures.units_waiting:
            problems.append("the age buckets do not add up to the units waiting")
        report.check("the page shows every waiting unit, the ages add up", problems)
    return report.figures
