"""The full order flow in the production shape: 16 shoppers, each repeating a guest's
whole journey over HTTP (product page, add to cart, checkout page, place the order
paying with the test card, the status page it lands on) against gunicorn (2 sync
workers, DEBUG off, PostgreSQL, the cache on Redis), with the order-placed emails sent
by plain Celery workers (the Procfile's `worker` and `mailer`) through Redis to files.

Each shopper buys a product of their own, in stock, so the figure is the flow's cost
and not the product lock's (checkout_contention measures the lock). Measured over
ROUNDS phases of PHASE_SECONDS: orders/second, the flow's p50/p95/p99, and the CPU
milliseconds per order of the server's processes (gunicorn, the workers, PostgreSQL),
read from the processes themselves so that the load client's own cost (the shoppers
are threads of this process) does not blur it.

Target (the issue): 10x django-oscar's guest checkout on this machine, 2.7 orders/s
in the issue's run, so 27 orders/s; where the load client's CPU caps the rate, the
server's cost per order that would reach it on the 2 cores (2,000 ms / 27).
Check: every order placed has its order-placed email marked sent.
"""

import os
import shutil
import tempfile
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

from backorders.services import stock_receive
from bench.checkout_contention import (
    PhaseResult,
    ProductRef,
    report_phase,
    shop,
    web_environment,
    web_ready,
    web_start,
)
from bench.email_delivery import REDIS_URL, dedicated_redis
from bench.harness import (
    CpuMeter,
    Report,
    Target,
    bench_database,
    celery_worker,
    child_process,
    free_port,
    in_process_group,
    log_path,
    log_tail,
    percentile,
    postgres_server,
    publishing_off,
    section,
    this_process,
    wait_until,
)
from catalog.models import Category, Product
from notifications.models import OutboxEmail
from orders.models import Order

NAME = "order_flow"
CLIENTS = 16
WEB_WORKERS = 2
ROUNDS = 2
PHASE_SECONDS = 10
WARMUP_SECONDS = 3
OSCAR_ORDERS_PER_SECOND = 2.7  # django-oscar 4.2's guest checkout, the issue's run
TARGET_ORDERS = Target(10 * OSCAR_ORDERS_PER_SECOND, at_least=True)
EMAIL_TIMEOUT = 120
SERVER = ("gunicorn", "workers", "postgres")
# gunicorn's options and the environment: WEB_WORKERS sync workers, as the issue
# measured the store and its peer.
ISSUE_SHAPE = ([], {})
# Other shapes for 2 cores (docs/performance.md): the Procfile's default of 3, gunicorn's
# rule of thumb of 2 × cores + 1, threads that overlap a request's database waits, and
# the issue's shape without connection reuse.
SHAPES = {
    "sync × 3": (["--workers=3"], {}),
    "sync × 5": (["--workers=5"], {}),
    "gthread 2 × 4 threads": (["--worker-class=gthread", "--threads=4"], {}),
    "sync × 2, a connection per request (CONN_MAX_AGE=0)": ([], {"CONN_MAX_AGE": "0"}),
}


def products_create() -> list[ProductRef]:
    category, _ = Category.objects.get_or_create(name="Flow", slug="flow")
    refs = []
    for n in range(CLIENTS):
        product = Product.objects.create(
            sku=f"FLOW{n:02}",
            slug=f"flow-{n:02}",
            name=f"Flow item {n:02}",
            category=category,
            price=Decimal("10.00"),
        )
        stock_receive(product=product, quantity=1_000_000, reference="opening stock")
        refs.append(ProductRef(product.pk, product.slug))
    return refs


def workers_start(env: dict[str, str]):
    """The Procfile's worker and mailer, plain `celery -A storefront worker`."""
    worker = celery_worker(hostname="flow-worker", queue="celery", options=["--concurrency=2"])
    mailer = celery_worker(
        hostname="flow-mailer", queue="email", options=["--pool=threads", "--concurrency=8"]
    )
    return (
        child_process(worker, env=env, log=log_path("order-flow-worker")),
        child_process(mailer, env=env, log=log_path("order-flow-mailer")),
    )


def emails_sent() -> tuple[int, int]:
    orders = Order.objects.count()
    sent = OutboxEmail.objects.filter(status=OutboxEmail.Status.SENT).count()
    return orders, sent


def run() -> list:
    section(f"Order flow: {CLIENTS} shoppers, gunicorn × {WEB_WORKERS}, Celery workers")
    report = Report(NAME)
    mail_dir = Path(tempfile.mkdtemp(prefix="storefront-bench-mail-"))
    try:
        with bench_database(NAME) as database_url, publishing_off(), dedicated_redis():
            refs = products_create()
            port = free_port()
            env = web_environment(database_url, port, mail_dir) | {"CELERY_BROKER_URL": REDIS_URL}
            worker_run, mailer_run = workers_start(env)
            with worker_run as worker, mailer_run as mailer:
                workers = in_process_group(worker, mailer)
                with web_serving(env, port, ISSUE_SHAPE) as web:
                    measure(report, port, refs, server_groups(web, workers))
                shapes_compare(report, env, port, refs, workers)
                # The emails drain after the last order: every one must be sent.
                wait_until(lambda: len(set(emails_sent())) == 1, timeout=EMAIL_TIMEOUT)
                orders, sent = emails_sent()
                problems = [] if orders == sent else [f"{orders} orders, {sent} emails sent"]
                report.check("every order's email sent", problems)
    finally:
        shutil.rmtree(mail_dir, ignore_errors=True)
    return report.figures


@contextmanager
def web_serving(env: dict[str, str], port: int, shape: tuple[list[str], dict[str, str]]):
    """gunicorn in `shape`: its options, and the environment it changes."""
    options, overrides = shape
    log = log_path("gunicorn-order-flow")
    with web_start(env | overrides, port, log, workers=WEB_WORKERS, options=options) as web:
        if not wait_until(lambda: web_ready(port), timeout=60, interval=0.25):
            raise RuntimeError(f"gunicorn did not start:\n{log_tail(log)}")
        yield web


def server_groups(web, workers) -> dict:
    return {
        "gunicorn": in_process_group(web),
        "workers": workers,
        "postgres": postgres_server,
        "shoppers (this process)": this_process,
    }


def shapes_compare(report: Report, env: dict[str, str], port: int, refs, workers) -> None:
    """The same flow served by gunicorn in other shapes for these 2 cores, one round
    each, each beside a round of the issue's shape measured just before it (the
    machine's speed drifts over minutes, so only a side-by-side ratio means much)."""
    for label, shape in SHAPES.items():
        before, _ = shape_round(env, port, refs, workers, ISSUE_SHAPE)
        result, cpu = shape_round(env, port, refs, workers, shape)
        ratio = result.orders_per_second / before.orders_per_second
        report.add(f"{label}: orders/second", result.orders_per_second, "/s")
        report.add(f"{label}: server CPU per order", server_ms(cpu.used, result), "ms")
        report.add(f"{label}: orders/second / sync × {WEB_WORKERS} just before", ratio, "x")


def shape_round(env, port: int, refs, workers, shape) -> tuple[PhaseResult, CpuMeter]:
    """A warm-up, then one measured round, with gunicorn served in `shape`."""
    with web_serving(env, port, shape) as web:
        shop(port, refs, seconds=WARMUP_SECONDS, status_page=True)
        return flow_round(port, refs, server_groups(web, workers))


def flow_round(port: int, refs: list[ProductRef], groups: dict) -> tuple[PhaseResult, CpuMeter]:
    """One measured round of the flow, and the CPU each group used in it."""
    with CpuMeter(groups) as cpu:
        result = shop(port, refs, seconds=PHASE_SECONDS, status_page=True)
    return result, cpu


def server_ms(cpu_used: dict[str, float], result: PhaseResult) -> float:
    """The server's CPU milliseconds per order placed (gunicorn, workers, PostgreSQL)."""
    return sum(cpu_used[group] for group in SERVER) / len(result.placed) * 1000


def measure(report: Report, port: int, refs: list[ProductRef], groups: dict) -> None:
    warmup = shop(port, refs, seconds=WARMUP_SECONDS, status_page=True)
    report_phase(report, "warm-up (not counted)", warmup, figures=False)
    total, cpu_used = PhaseResult(), dict.fromkeys([*groups, "rest of the machine"], 0.0)
    for round_number in range(1, ROUNDS + 1):
        result, cpu = flow_round(port, refs, groups)
        total.merge(result)
        for group, seconds in cpu.used.items():
            cpu_used[group] += seconds
        report.note(
            f"round {round_number}: {result.orders_per_second:.1f} orders/s; {cpu.summary()}"
        )
    report_phase(report, "order flow", total, figures=False)
    report_flow(report, total, cpu_used)


def report_flow(report: Report, result: PhaseResult, cpu_used: dict[str, float]) -> None:
    orders = len(result.placed)
    flows = sorted(attempt.sequence_seconds * 1000 for attempt in result.placed)
    report.add("orders/second", result.orders_per_second, "/s", TARGET_ORDERS)
    for name, fraction in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99)):
        report.add(f"5-request flow {name}", percentile(flows, fraction), "ms")
    for group, seconds in cpu_used.items():
        report.add(f"CPU per order: {group}", seconds / orders * 1000, "ms")
    server = server_ms(cpu_used, result)
    report.add("CPU per order: the server (all three)", server, "ms")
    cores = os.cpu_count() or 1
    report.add(
        f"orders/second the server's cost allows on {cores} cores",
        cores * 1000 / server,
        "/s",
        TARGET_ORDERS,
    )
    report.add(
        f"orders/second / django-oscar's {OSCAR_ORDERS_PER_SECOND}/s",
        result.orders_per_second / OSCAR_ORDERS_PER_SECOND,
        "x",
        Target(10, at_least=True),
    )
