"""Pages under load: wrk with 16 connections against gunicorn (2 sync workers, DEBUG off,
PostgreSQL, the cache on Redis), each page for SECONDS, in ROUNDS alternating rounds,
beside a bare Django "hello" view served the same way (bench/hello.py), the ceiling.

Data: CATALOG products in 10 categories, a quarter of them out of stock with waiting
back-orders and a confirmed inbound; one customer's order waits behind a queue of
QUEUE back-orders. Pages: the catalog's first page, a product page with a queue, that
order's status page and status.json. Target: each page at least 0.30 of hello's
requests/second (the issue). Printed: requests/second, p50 and p99 latency, and the CPU
used by gunicorn, PostgreSQL and wrk itself (the load client shares the 2 cores).
"""

import datetime
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.utils import timezone

from backorders.services import inbound_announce, stock_receive
from bench.checkout_contention import web_environment, web_ready, web_start
from bench.harness import (
    VENV_BIN,
    CpuMeter,
    Report,
    Target,
    bench_database,
    child_environment,
    child_process,
    database_settle,
    free_port,
    in_process_group,
    log_path,
    log_tail,
    postgres_server,
    publishing_off,
    section,
    wait_until,
)
from catalog.models import Category, Product
from tests.factories import backorders_bulk_create, order_create

NAME = "pages"
CATALOG = 2_000
QUEUE = 300
CONNECTIONS = 16
WEB_WORKERS = 2
SECONDS = 8
ROUNDS = 2
TARGET_RATIO = Target(0.30, at_least=True)
TABLES = ["catalog_product", "catalog_inbound", "orders_order", "orders_orderline"]


@dataclass
class Load:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    cpu: dict[str, float]


def store_build() -> dict[str, str]:
    """The pages to load, by label."""
    categories = [
        Category.objects.create(name=f"Category {n}", slug=f"category-{n}") for n in range(10)
    ]
    products = Product.objects.bulk_create(
        Product(
            sku=f"PAGE-{n:05d}",
            slug=f"page-{n:05d}",
            name=f"Bench item {n:05d}",
            category=categories[n % 10],
            price="10.00",
            description="A product of the pages benchmark. " * 8,
        )
        for n in range(CATALOG)
    )
    in_week = timezone.localdate() + datetime.timedelta(days=7)
    for n, product in enumerate(products):
        if n % 4:
            stock_receive(product=product, quantity=50, reference="opening stock")
        elif n < 200:  # the out-of-stock ones on the first pages wait for an inbound
            inbound_announce(product=product, quantity=500, expected_date=in_week)
    queued = products[0]
    backorders_bulk_create(queued, QUEUE)
    order = order_create({queued: 1, products[1]: 1})
    status = order.get_absolute_url()
    return {
        "catalog /": "/",
        "product page": queued.get_absolute_url(),
        "status page": status,
        "status.json": f"{status}status.json",
    }


def wrk(port: int, path: str) -> tuple[float, float, float]:
    """(requests/second, p50 ms, p99 ms) of one wrk run."""
    output = subprocess.run(
        ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "--latency",
         f"http://127.0.0.1:{port}{path}"],
        capture_output=True, text=True, check=True, timeout=SECONDS + 30,
    ).stdout  # fmt: skip
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx:
        raise RuntimeError(f"{path}: {non_2xx.group(1)} answers were not 2xx/3xx:\n{output}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    return rate, _latency_ms(output, "50%"), _latency_ms(output, "99%")


def _latency_ms(output: str, percent: str) -> float:
    value, unit = re.search(rf"{percent}\s+([\d.]+)(us|ms|s)", output).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]


def load(port: int, path: str, groups: dict) -> Load:
    with CpuMeter(groups, reaped_children="wrk") as cpu:
        rate, p50, p99 = wrk(port, path)
    return Load(rate, p50, p99, dict(cpu.used))


def hello_start(port: int, log: Path):
    command = [
        str(VENV_BIN / "gunicorn"), "bench.hello_wsgi", f"--workers={WEB_WORKERS}",
        f"--bind=127.0.0.1:{port}",
    ]  # fmt: skip
    return child_process(command, env=child_environment(), log=log)


def run() -> list:
    section(
        f"Pages: wrk, {CONNECTIONS} connections, gunicorn × {WEB_WORKERS}, {CATALOG:,} "
        f"products, a queue of {QUEUE}"
    )
    report = Report(NAME)
    mail_dir = Path(tempfile.mkdtemp(prefix="storefront-bench-mail-"))
    with bench_database(NAME) as database_url, publishing_off():
        pages = store_build()
        database_settle(*TABLES)
        store_port, hello_port = free_port(), free_port()
        env = web_environment(database_url, store_port, mail_dir)
        store_log, hello_log = log_path("gunicorn-pages"), log_path("gunicorn-hello")
        with (
            web_start(env, store_port, store_log, workers=WEB_WORKERS) as store,
            hello_start(hello_port, hello_log) as hello,
        ):
            for port, log in ((store_port, store_log), (hello_port, hello_log)):
                if not wait_until(lambda port=port: _answers(port), timeout=60, interval=0.25):
                    raise RuntimeError(f"gunicorn did not start:\n{log_tail(log)}")
            targets = {"hello (ceiling)": (hello_port, "/", hello)}
            targets |= {label: (store_port, path, store) for label, path in pages.items()}
            results: dict[str, list[Load]] = {label: [] for label in targets}
            for port, path, _ in targets.values():
                wrk(port, path)  # warm-up: connections, caches, compiled templates
            for round_number in range(ROUNDS):
                labels = list(targets) if round_number % 2 == 0 else list(reversed(targets))
                for label in labels:
                    port, path, server = targets[label]
                    groups = {
                        "gunicorn": in_process_group(server),
                        "postgres": postgres_server,
                    }
                    results[label].append(load(port, path, groups))
                    report.note(
                        f"round {round_number + 1}, {label}: {_summary(results[label][-1])}"
                    )
            report_results(report, results)
    return report.figures


def _answers(port: int) -> bool:
    return web_ready(port) or _hello_ready(port)


def _hello_ready(port: int) -> bool:
    import http.client

    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", "/")
        return connection.getresponse().status == 200
    except OSError:
        return False


def _summary(result: Load) -> str:
    cpu = ", ".join(f"{group} {seconds:.1f} s" for group, seconds in result.cpu.items())
    return (
        f"{result.requests_per_second:,.0f} req/s, p50 {result.p50_ms:.1f} ms, "
        f"p99 {result.p99_ms:.1f} ms; CPU {cpu}"
    )


def report_results(report: Report, results: dict[str, list[Load]]) -> None:
    best = {
        label: max(runs, key=lambda r: r.requests_per_second) for label, runs in results.items()
    }
    hello = best["hello (ceiling)"].requests_per_second
    for label, result in best.items():
        requests = result.requests_per_second * SECONDS
        report.add(f"{label}: requests/second, best of {ROUNDS}", result.requests_per_second, "/s")
        report.add(f"{label}: p50", result.p50_ms, "ms")
        gunicorn_ms = 1000 * result.cpu["gunicorn"] / requests
        postgres_ms = 1000 * result.cpu["postgres"] / requests
        report.add(f"{label}: gunicorn CPU per request", gunicorn_ms, "ms")
        report.add(f"{label}: PostgreSQL CPU per request", postgres_ms, "ms")
        if label != "hello (ceiling)":
            report.add(f"{label} / hello", result.requests_per_second / hello, "x", TARGET_RATIO)
