"""Restock fill: a product with 20,000 one-unit back-orders, each its own order, receives
20,000 units.

Measured (store): `backorders.services.stock_receive` (lock, on hand +20,000, receipt
ledger row) then `backorders.services.backorders_allocate`, as the worker runs it, with
task publishing patched off: from the receipt until every back-order is allocated, its
line updated, its ledger row written and its email in the outbox.

Floor: hand-written set-based SQL making the same writes in one transaction (a handful
of statements) on an identical second queue: the receipt, lines updated, one ledger row
per line, one outbox email per order with the same JSON facts, product counters.

Target: store ≤ 2.0x floor. Also printed: the store's query count at two queue lengths,
to show that queries grow with batches (BACKORDER_ALLOCATION_BATCH_SIZE), not lines.
The queues are built set-based (bulk_create), consistent with the invariants; each
timing runs on its own fresh queue, store and floor taking turns to go first.
"""

import contextlib
import cProfile
import io
import math
import pstats
import re
import statistics
import time

from django.conf import settings
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from backorders.selectors import inventory_problems
from backorders.services import backorders_allocate, stock_receive
from bench.harness import (
    Report,
    Target,
    bench_database,
    database_settle,
    publishing_off,
    section,
)
from catalog.models import Product, StockMovement
from notifications.models import OutboxEmail
from orders.models import ORDER_NUMBER_OFFSET, OrderLine, ShippingPreference
from tests.factories import backorders_bulk_create, product_create

NAME = "restock_fill"
QUEUE_LENGTH = 20_000
SMALL_QUEUE_LENGTH = 2_000
ROUNDS = 3  # store and floor alternate, each round on fresh queues
TARGET_RATIO = Target(2.0, at_least=False)
BUILD_BATCH = 5_000
PROFILE_LINES = 15
TABLES_WRITTEN = [
    "catalog_product",
    "catalog_stockmovement",
    "orders_order",
    "orders_orderline",
    "notifications_outboxemail",
]

# The floor: the writes of a whole fill as set-based SQL, in one transaction. It fills
# whole lines only, which is exact here: the receipt covers the entire queue.
FLOOR_STATEMENTS = [
    # The receipt; this UPDATE also takes the product's row lock first, as the store does.
    "UPDATE catalog_product SET on_hand = on_hand + %(units)s WHERE id = %(product)s",
    """INSERT INTO catalog_stockmovement
           (product_id, kind, on_hand_delta, allocated_delta, reference, created_at)
       VALUES (%(product)s, 'receipt', %(units)s, 0, 'bench receipt', now())""",
    # The queue, head first, locked; each line gets its ledger row's id now.
    """CREATE TEMPORARY TABLE bench_fill
           (line_id bigint, order_id bigint, units integer, movement_id bigint)
       ON COMMIT DROP""",
    """INSERT INTO bench_fill
       SELECT id, order_id, backordered,
              nextval(pg_get_serial_sequence('catalog_stockmovement', 'id'))
       FROM orders_orderline
       WHERE product_id = %(product)s AND backordered > 0
       ORDER BY priority DESC, queued_at, id
       FOR UPDATE""",
    """UPDATE orders_orderline AS line
       SET allocated = line.allocated + fill.units, backordered = line.backordered - fill.units
       FROM bench_fill AS fill WHERE line.id = fill.line_id""",
    """INSERT INTO catalog_stockmovement
           (id, product_id, kind, on_hand_delta, allocated_delta, reference, created_at)
       SELECT movement_id, %(product)s, 'allocation', 0, units,
              'order ' || (%(offset)s + order_id) || ' line ' || line_id, now()
       FROM bench_fill""",
    # One email per order served, with the facts the store writes (its keys and values).
    """INSERT INTO notifications_outboxemail
           (key, event, to_email, context, subject, status, attempts, last_error,
            created_at, next_attempt_at)
       SELECT 'backorder-allocated:' || fill.line_id || ':'
                  || (line.queued_units - line.cancelled - line.backordered),
              'backorder_allocated', o.email,
              jsonb_build_object(
                  'number', (%(offset)s + o.id)::text,
                  'name', o.name,
                  'status_url', %(site)s || replace(%(status_path)s, 'TOKEN', o.token),
                  'shipping_preference', CASE o.shipping_preference
                      WHEN 'ship_ready_now' THEN %(ready_now_label)s
                      ELSE %(all_together_label)s END,
                  'ships_ready_now', o.shipping_preference = 'ship_ready_now',
                  'served', jsonb_build_array(jsonb_build_object(
                      'name', p.name, 'sku', p.sku, 'units', fill.units,
                      'still_waiting', line.backordered,
                      'unit_price', line.unit_price - line.backorder_unit_discount,
                      'amount', (line.unit_price - line.backorder_unit_discount) * fill.units)),
                  'card_last4', o.card_last4,
                  'ships_now', o.shipping_preference = 'ship_ready_now' OR NOT EXISTS (
                      SELECT 1 FROM orders_orderline AS other
                      WHERE other.order_id = o.id AND other.backordered > 0)),
              '', 'pending', 0, '', now(), now()
       FROM bench_fill AS fill
       JOIN orders_order AS o ON o.id = fill.order_id
       JOIN orders_orderline AS line ON line.id = fill.line_id
       JOIN catalog_product AS p ON p.id = %(product)s
       ON CONFLICT (key) DO NOTHING""",
    """UPDATE catalog_product
       SET allocated = allocated + served.units, backordered = backordered - served.units
       FROM (SELECT sum(units) AS units FROM bench_fill) AS served
       WHERE id = %(product)s""",
]


def queue_build(*, sku: str, length: int) -> Product:
    """A product with `length` one-unit back-orders, each its own order, queued in
    order; counters and lines as order placement would leave them (no stock yet)."""
    product = product_create(sku=sku, name=f"Bench item {sku}", category="Bench")
    backorders_bulk_create(product, length, batch_size=BUILD_BATCH)
    product.refresh_from_db()
    return product


def store_fill(product: Product) -> None:
    stock_receive(product=product, quantity=product.backordered, reference="bench receipt")
    backorders_allocate(product_id=product.pk)


def floor_fill(product: Product) -> None:
    params = {
        "product": product.pk,
        "units": product.backordered,
        "offset": ORDER_NUMBER_OFFSET,
        "site": settings.SITE_URL,
        "status_path": reverse("orders:status", kwargs={"token": "TOKEN"}),
        "ready_now_label": str(ShippingPreference.SHIP_READY_NOW.label),
        "all_together_label": str(ShippingPreference.SHIP_ALL_TOGETHER.label),
    }
    with transaction.atomic(), connection.cursor() as cursor:
        for statement in FLOOR_STATEMENTS:
            cursor.execute(statement, params)


def timed(fill, product: Product, *, capture: bool = False) -> tuple[float, list[dict]]:
    """Seconds `fill` takes on a settled database, and its queries if `capture` (each
    with its SQL and its time as the client saw it)."""
    database_settle(*TABLES_WRITTEN)
    with CaptureQueriesContext(connection) if capture else contextlib.nullcontext() as queries:
        start = time.perf_counter()
        fill(product)
        elapsed = time.perf_counter() - start
    return elapsed, list(queries) if capture else []


def fresh_queues(names: list[str], length: int) -> list[Product]:
    return [queue_build(sku=name, length=length) for name in names]


def statement_kind(sql: str) -> str:
    """A query named by verb and table, e.g. "INSERT notifications_outboxemail"."""
    verb = sql.split(None, 1)[0].upper()
    table = re.search(r'(?:FROM|INTO|UPDATE|TABLE)\s+"?(\w+)"?', sql)
    locking = " FOR UPDATE" if " FOR UPDATE" in sql else ""
    return f"{verb} {table.group(1) if table else ''}{locking}".strip()


def database_time_by_kind(queries: list[dict]) -> list[tuple[str, int, float]]:
    """(statement kind, count, seconds) for each kind, most time first."""
    totals: dict[str, list] = {}
    for query in queries:
        entry = totals.setdefault(statement_kind(query["sql"]), [0, 0.0])
        entry[0] += 1
        entry[1] += float(query["time"])
    return sorted(((kind, n, t) for kind, (n, t) in totals.items()), key=lambda row: -row[2])


def store_profile(product: Product) -> str:
    """The top functions by cumulative time, then by own time."""
    profiler = cProfile.Profile()
    profiler.runcall(store_fill, product)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(PROFILE_LINES)
    stats.sort_stats("tottime").print_stats(PROFILE_LINES)
    return out.getvalue()


def fill_problems(products: list[Product]) -> list[str]:
    """Invariants 1-4, then what a complete fill must have written for each queue."""
    problems = list(inventory_problems())
    for product in products:
        product.refresh_from_db()
        lines = OrderLine.objects.filter(product=product)
        length = lines.count()
        written = {
            "lines allocated": lines.filter(allocated=1, backordered=0).count(),
            "allocation ledger rows": StockMovement.objects.filter(
                product=product, kind=StockMovement.Kind.ALLOCATION
            ).count(),
            "outbox emails": OutboxEmail.objects.filter(
                event="backorder_allocated", context__served__0__sku=product.sku
            ).count(),
            "product allocated": product.allocated,
            "product on hand": product.on_hand,
        }
        problems += [
            f"{product.sku}: {what} {count}, expected {length}"
            for what, count in written.items()
            if count != length
        ]
        if product.backordered:
            problems.append(f"{product.sku}: {product.backordered} units still waiting")
    return problems


def context_problems(store: Product, floor: Product) -> list[str]:
    """The floor's first email carries the same facts as the store's: the same keys, and
    the same values but for the order's and the product's own details."""
    contexts = [
        OutboxEmail.objects.filter(context__served__0__sku=product.sku)
        .order_by("pk")
        .values_list("context", flat=True)
        .first()
        for product in (store, floor)
    ]
    if None in contexts:
        return ["an email is missing"]
    store_facts, floor_facts = (
        {**context, **context["served"][0], "keys": sorted(context)} for context in contexts
    )
    own_details = {"number", "name", "status_url", "sku", "served"}
    return [
        f"{fact}: store {store_facts[fact]!r}, floor {floor_facts.get(fact)!r}"
        for fact in store_facts.keys() - own_details
        if store_facts[fact] != floor_facts.get(fact)
    ]


def run() -> list:
    section("restock fill: 20,000 queued back-orders, 20,000 units received")
    report = Report(NAME)
    with bench_database(NAME), publishing_off():
        ratio, fastest_floor = report_fills(report)
        report_queries(report, fastest_floor)
        if not TARGET_RATIO.met_by(ratio):
            report_profile(report)
    return report.figures


def report_fills(report: Report) -> tuple[float, tuple[float, list[dict]]]:
    """Store and floor in turn, each round on two fresh identical queues, the one going
    first alternating. Returns the store/floor ratio of the best times and the fastest
    floor run with its queries (a handful: capturing them costs nothing)."""
    store_times, floor_runs, filled = [], [], []
    for round_number in range(1, ROUNDS + 1):
        store, floor = fresh_queues([f"STORE{round_number}", f"FLOOR{round_number}"], QUEUE_LENGTH)
        if round_number % 2 == 0:
            floor_runs.append(timed(floor_fill, floor, capture=True))
        store_times.append(timed(store_fill, store)[0])
        if round_number % 2 == 1:
            floor_runs.append(timed(floor_fill, floor, capture=True))
        filled += [store, floor]
        report.note(
            f"round {round_number}: store {store_times[-1]:.2f} s, floor {floor_runs[-1][0]:.2f} s"
        )
    floor_times = [seconds for seconds, _ in floor_runs]
    store_best, floor_best = min(store_times), min(floor_times)
    report.add(f"store fill, best of {ROUNDS}", store_best, "s")
    report.add(f"floor fill (set-based SQL), best of {ROUNDS}", floor_best, "s")
    report.add("store back-orders/second", QUEUE_LENGTH / store_best, "/s")
    report.add("floor back-orders/second", QUEUE_LENGTH / floor_best, "/s")
    ratio = store_best / floor_best
    report.add("store / floor, best times", ratio, "x", TARGET_RATIO)
    report.add(
        f"store / floor, median of {ROUNDS}",
        statistics.median(store_times) / statistics.median(floor_times),
        "x",
    )
    report.check("invariants and counts after every fill", fill_problems(filled))
    report.check("floor emails carry the store's facts", context_problems(*filled[:2]))
    return ratio, min(floor_runs, key=lambda run: run[0])


def report_queries(report: Report, fastest_floor: tuple[float, list[dict]]) -> None:
    """Query counts of the store fill at two queue lengths, and where the database time
    of the longer one goes, beside the floor's."""
    batch_size = settings.BACKORDER_ALLOCATION_BATCH_SIZE
    counts = {}
    for length in (SMALL_QUEUE_LENGTH, QUEUE_LENGTH):
        (product,) = fresh_queues([f"COUNT{length}"], length)
        seconds, queries = timed(store_fill, product, capture=True)
        counts[length] = len(queries)
        batches = math.ceil(length / batch_size)
        report.add(f"store queries, queue of {length:,} ({batches} batches)", len(queries))
    batches_added = math.ceil(QUEUE_LENGTH / batch_size) - math.ceil(
        SMALL_QUEUE_LENGTH / batch_size
    )
    per_batch = (counts[QUEUE_LENGTH] - counts[SMALL_QUEUE_LENGTH]) / batches_added
    report.add(f"store queries per batch of {batch_size}", per_batch)
    outside = counts[QUEUE_LENGTH] - per_batch * math.ceil(QUEUE_LENGTH / batch_size)
    report.add("store queries per fill outside batches", outside)
    report_database_time(report, f"store, {QUEUE_LENGTH:,}, queries captured", queries, seconds)
    floor_seconds, floor_queries = fastest_floor
    report_database_time(report, "floor, its fastest run", floor_queries, floor_seconds)


def report_database_time(report: Report, run: str, queries: list[dict], wall: float) -> None:
    database = sum(float(query["time"]) for query in queries)
    report.note(
        f"{run}: {wall:.2f} s, of which {database:.2f} s in queries (as the client saw "
        f"them, parameter encoding included) and {max(wall - database, 0):.2f} s in Python"
    )
    for kind, count, total in database_time_by_kind(queries):
        report.note(f"  {total:6.2f} s  {count:4} × {kind}")


def report_profile(report: Report) -> None:
    (product,) = fresh_queues(["PROFILE"], QUEUE_LENGTH)
    database_settle(*TABLES_WRITTEN)
    report.note(f"the store missed its target: cProfile of a store fill of {QUEUE_LENGTH:,}")
    report.note("(profiling slows the Python part down, not the database's)")
    print(store_profile(product), flush=True)
