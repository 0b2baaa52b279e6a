"""ETA refresh: a product with 20,000 one-unit back-orders, each its own order, and 50
confirmed inbounds of 300 units a week apart; 15,000 units, so the last 5,000 lines
stay undated, as when supply falls short of the queue.

Measured: `orders.promises.line_etas_refresh`, as the worker runs it, with task
publishing patched off (harness.publishing_off): without a broker its promises_keep task
would run in this process when the refresh commits, inside the timing, telling every
customer whose date moved; in production that is another task, a batch window later.

Scenarios, in this order in each of REPEATS rounds, each on a settled database:
first refresh (every line undated, every inbound on its first date: 15,000 lines get
a date); nothing changed (0); the first inbound slips 3 days (its 300 lines move; the
next inbound is a week later); the first inbound slips past the last (every dated line
moves one inbound on: 15,000). Target: each scenario's median < 1 s (the issue:
20,000 waiting back-orders × 50 inbounds in under 1 s on PostgreSQL). Also printed:
PostgreSQL's and this process's CPU per refresh. Check: after each refresh every line's
stored ETA is the date of the inbound covering its place in the queue, worked out here
without the store's code, and the count returned is the count that moved.
"""

import datetime
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db.models import F
from django.utils import timezone

from bench.harness import (
    CpuMeter,
    Report,
    Target,
    bench_database,
    database_settle,
    postgres_server,
    publishing_off,
    section,
    this_process,
)
from catalog.models import Inbound, Product
from notifications.models import OutboxEmail
from orders.models import OrderLine
from orders.promises import line_etas_refresh
from tests.factories import backorders_bulk_create, product_create

NAME = "eta_refresh"
QUEUE_LENGTH = 20_000
INBOUNDS = 50
INBOUND_UNITS = 300
INBOUND_INTERVAL = datetime.timedelta(weeks=1)
SLIP = datetime.timedelta(days=3)  # less than INBOUND_INTERVAL: the order of arrival holds
REPEATS = 5
BUILD_BATCH = 5_000
TARGET_SECONDS = Target(1.0, at_least=False)
TABLES_WRITTEN = ["catalog_product", "catalog_inbound", "orders_orderline"]
CPU_GROUPS = {"postgres": postgres_server, "this process": this_process}


@dataclass
class Scenario:
    label: str
    change: Callable[[Product, list[Inbound]], None]  # the edit the refresh answers
    seconds: list[float] = field(default_factory=list)
    postgres_cpu: list[float] = field(default_factory=list)
    python_cpu: list[float] = field(default_factory=list)


def queue_build() -> tuple[Product, list[Inbound]]:
    """The product, its queue as order placement would leave it, and its inbounds in
    the order they arrive, the first a week from today."""
    product = product_create(sku="ETA", name="Bench item ETA", category="Bench")
    backorders_bulk_create(product, QUEUE_LENGTH, batch_size=BUILD_BATCH)
    today = timezone.localdate()
    inbounds = Inbound.objects.bulk_create(
        Inbound(
            product=product,
            quantity=INBOUND_UNITS,
            expected_date=today + INBOUND_INTERVAL * (number + 1),
            reference=f"bench-{number + 1}",
        )
        for number in range(INBOUNDS)
    )
    return product, inbounds


def undated(product: Product, inbounds: list[Inbound]) -> None:
    """As before any refresh: no line dated, every inbound on its first date."""
    OrderLine.objects.filter(product=product).update(eta=None, eta_changed_at=None)
    Inbound.objects.bulk_update(inbounds, ["expected_date"])


def unchanged(product: Product, inbounds: list[Inbound]) -> None:
    """Nothing: the refresh finds every date as stored."""


def first_slips(product: Product, inbounds: list[Inbound]) -> None:
    Inbound.objects.filter(pk=inbounds[0].pk).update(expected_date=F("expected_date") + SLIP)


def first_slips_past_last(product: Product, inbounds: list[Inbound]) -> None:
    last = inbounds[-1].expected_date
    Inbound.objects.filter(pk=inbounds[0].pk).update(expected_date=last + INBOUND_INTERVAL)


SCENARIOS = [
    ("first refresh: 15,000 lines dated", undated),
    ("nothing changed", unchanged),
    ("first inbound slips 3 days", first_slips),
    ("first inbound slips past the last", first_slips_past_last),
]


def etas_expected(product: Product) -> list[datetime.date | None]:
    """Queue place n (from 0) is covered by the inbound n // INBOUND_UNITS in order of
    arrival: every inbound brings the same units and every line waits for one."""
    dates = Inbound.objects.filter(product=product).order_by("expected_date", "pk")
    covered = list(dates.values_list("expected_date", flat=True))
    return [
        covered[place // INBOUND_UNITS] if place // INBOUND_UNITS < len(covered) else None
        for place in range(QUEUE_LENGTH)
    ]


def etas_stored(product: Product) -> list[datetime.date | None]:
    lines = OrderLine.objects.filter(product=product, backordered__gt=0)
    return list(lines.order_by("-priority", "queued_at", "pk").values_list("eta", flat=True))


def refresh_problems(
    label: str, product: Product, *, before: list, after: list, changed: int
) -> list[str]:
    """`before`: the stored ETAs the refresh started from; `after`: the expected ones."""
    moved = sum(old != new for old, new in zip(before, after, strict=True))
    stored = etas_stored(product)
    wrong = sum(line != expected for line, expected in zip(stored, after, strict=True))
    problems = [f"{label}: {wrong} lines with another ETA than their inbound's"] if wrong else []
    if changed != moved:
        problems.append(f"{label}: {changed} lines reported changed, {moved} moved")
    return problems


def run() -> list:
    section(
        f"ETA refresh: {QUEUE_LENGTH:,} waiting back-orders, {INBOUNDS} inbounds of "
        f"{INBOUND_UNITS} units"
    )
    report = Report(NAME)
    with bench_database(NAME), publishing_off():
        product, inbounds = queue_build()
        scenarios = [Scenario(label, change) for label, change in SCENARIOS]
        problems = []
        for round_number in range(1, REPEATS + 1):
            for scenario in scenarios:
                problems += timed_refresh(report, scenario, product, inbounds, round_number)
        for scenario in scenarios:
            report_scenario(report, scenario)
        if OutboxEmail.objects.exists():
            problems.append("emails were written: a task ran inside the timing")
        report.check("every ETA is its inbound's date, counts right", problems)
    return report.figures


def timed_refresh(
    report: Report, scenario: Scenario, product: Product, inbounds: list[Inbound], round_number: int
) -> list[str]:
    """Apply the scenario's change, settle, time one refresh; the problems it left."""
    scenario.change(product, inbounds)
    before, after = etas_stored(product), etas_expected(product)
    database_settle(*TABLES_WRITTEN)
    with CpuMeter(CPU_GROUPS) as cpu:
        start = time.perf_counter()
        changed = line_etas_refresh(product_id=product.pk)
        scenario.seconds.append(time.perf_counter() - start)
    scenario.postgres_cpu.append(cpu.used["postgres"])
    scenario.python_cpu.append(cpu.used["this process"])
    report.note(
        f"round {round_number}, {scenario.label}: {scenario.seconds[-1]:.3f} s, "
        f"{changed:,} lines changed; CPU postgres {cpu.used['postgres']:.2f} s, "
        f"this process {cpu.used['this process']:.2f} s"
    )
    return refresh_problems(scenario.label, product, before=before, after=after, changed=changed)


def report_scenario(report: Report, scenario: Scenario) -> None:
    report.add(f"{scenario.label}, best of {REPEATS}", min(scenario.seconds), "s")
    report.add(
        f"{scenario.label}, median of {REPEATS}",
        statistics.median(scenario.seconds),
        "s",
        TARGET_SECONDS,
    )
    median = statistics.median
    report.add("  PostgreSQL CPU per refresh, median", median(scenario.postgres_cpu), "s")
    report.add("  this process's CPU per refresh, median", median(scenario.python_cpu), "s")
