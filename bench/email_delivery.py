"""Email delivery: 20,000 outbox emails (the facts of a real "order placed" email)
delivered by two Celery worker processes through Redis to a local SMTP sink.

Workers: two worker processes, each `celery -A storefront worker --queues=email
--pool=threads --concurrency=8` (the Procfile's mailer: sending mostly waits on the
SMTP server, so each process overlaps a few sends), on a Redis database of their own
(flushed first). The SMTP sink is aiosmtpd in this process, counting messages by their
X-Outbox-Key header. The emails are written with notifications.services.emails_queue
(publishing patched off); once both workers answer a ping, the bench publishes the
delivery tasks itself (notifications.tasks.emails_deliver, DELIVERY_BATCH ids each).

Measured: from the first task published until every row is `sent` and the sink has
counted 20,000 messages. Target: ≥ 500 emails/second. Check: each key received exactly
once, each row sent at its first attempt.
"""

import cProfile
import datetime
import io
import logging
import pstats
import re
import time
from collections import Counter
from contextlib import ExitStack, contextmanager
from decimal import Decimal

import redis
from aiosmtpd.controller import Controller
from celery import Celery
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from backorders.services import inbound_announce, stock_receive
from bench.harness import (
    CpuMeter,
    Report,
    Target,
    bench_database,
    celery_worker,
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
    this_process,
    wait_until,
)
from catalog.models import Category, Product
from catalog.policy import BackorderPolicy
from notifications.models import OutboxEmail
from notifications.services import DELIVERY_BATCH, Email, emails_deliver, emails_queue
from orders.services import order_place

NAME = "email_delivery"
EMAILS = 20_000
WORKERS = 2
REDIS_URL = "redis://127.0.0.1:6379/13"  # a database of the bench's own, flushed first
WRITE_BATCH = 2_000
DELIVERY_TIMEOUT = 300
PROFILE_EMAILS = 500
PROFILE_LINES = 15
TARGET_RATE = Target(500, at_least=True)
DELIVER_TASK = "notifications.tasks.emails_deliver"
EMAIL_QUEUE = "email"  # CELERY_TASK_ROUTES
THREADS_PER_WORKER = 8  # the Procfile mailer's MAILER_CONCURRENCY default
SINK = "this process (SMTP sink)"
# Cheaper than parsing the message: the sink's CPU is the bench's, not the store's.
OUTBOX_KEY_HEADER = re.compile(rb"^X-Outbox-Key: (\S+)\r?$", re.MULTILINE)


class CountingSink:
    """An SMTP server that accepts every message and counts them by X-Outbox-Key."""

    def __init__(self):
        self.port = free_port()
        self.keys: Counter[str] = Counter()
        self.received = 0
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope) -> str:
        key = OUTBOX_KEY_HEADER.search(envelope.content)
        self.keys[key.group(1).decode() if key else ""] += 1
        self.received += 1
        return "250 Message accepted"


@contextmanager
def dedicated_redis():
    """The broker's Redis database, empty before and after the benchmark."""
    broker = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    broker.flushdb()
    try:
        yield
    finally:
        broker.flushdb()


@contextmanager
def smtp_sink():
    """The sink, running in a thread of this process; its per-command log is silenced
    (logging each SMTP command would make the sink the bottleneck)."""
    sink = CountingSink()
    session_log = logging.getLogger("mail.log")
    level = session_log.level
    session_log.setLevel(logging.WARNING)
    sink.controller.start()
    try:
        yield sink
    finally:
        sink.controller.stop()
        session_log.setLevel(level)


def order_placed_facts() -> dict:
    """The facts of a real "order placed" email: 2 units, one in stock and one waiting
    with an ETA. Its own outbox row is removed, so the bench's rows are the only ones."""
    category = Category.objects.create(name="Bench", slug="bench")
    product = Product.objects.create(
        sku="MAILER",
        slug="mailer",
        name="Bench mailer",
        category=category,
        price=Decimal("10.00"),
        backorder_policy=BackorderPolicy.ALLOW,
    )
    stock_receive(product=product, quantity=1, reference="opening stock")
    inbound_announce(
        product=product, quantity=10, expected_date=timezone.localdate() + datetime.timedelta(14)
    )
    order = order_place(
        quantities={product.pk: 2},
        email="shopper@example.com",
        name="Sam Shopper",
        shipping_address="1 Queue Street\nFifo Town",
        backorder_accepted=True,
    )
    email = OutboxEmail.objects.get(key=f"order-placed:{order.pk}")
    email.delete()
    return email.context


def outbox_fill(facts: dict, count: int, prefix: str) -> list[int]:
    """`count` pending emails through the outbox service; returns their ids."""
    for start in range(0, count, WRITE_BATCH):
        with transaction.atomic():
            emails_queue(
                emails=[
                    Email(
                        key=f"{prefix}:{i}",
                        to=f"shopper{i}@example.com",
                        event="order_placed",
                        context=facts,
                    )
                    for i in range(start, min(start + WRITE_BATCH, count))
                ]
            )
    keyed = OutboxEmail.objects.filter(key__startswith=f"{prefix}:").order_by("pk")
    return list(keyed.values_list("pk", flat=True))


def worker_environment(database_url: str, smtp_port: int) -> dict[str, str]:
    return child_environment(
        DEBUG="false",
        SECRET_KEY="bench-only-secret-key-not-for-production",
        SITE_URL="http://127.0.0.1:8000",
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=REDIS_URL,
        EMAIL_URL=f"smtp://127.0.0.1:{smtp_port}",
        LOG_LEVEL="WARNING",
    )


def worker_command(index: int) -> list[str]:
    return celery_worker(
        hostname=f"bench{index}",
        queue=EMAIL_QUEUE,
        options=["--pool=threads", f"--concurrency={THREADS_PER_WORKER}"],
    )


def cpu_meter(workers) -> CpuMeter:
    groups = {f"worker {i + 1}": in_process_group(worker) for i, worker in enumerate(workers)}
    return CpuMeter({**groups, "postgres": postgres_server, SINK: this_process})


def workers_answering(publisher: Celery) -> int:
    return len(publisher.control.ping(timeout=0.5))


def sent_count(ids: list[int]) -> int:
    return OutboxEmail.objects.filter(pk__in=ids, status=OutboxEmail.Status.SENT).count()


def deliver(publisher: Celery, ids: list[int], sink: CountingSink) -> float | None:
    """Publish the delivery tasks; seconds until all are sent and received, or None
    when that takes more than DELIVERY_TIMEOUT."""
    start = time.perf_counter()
    for offset in range(0, len(ids), DELIVERY_BATCH):
        publisher.send_task(
            DELIVER_TASK, args=[ids[offset : offset + DELIVERY_BATCH]], queue=EMAIL_QUEUE
        )
    done = wait_until(
        lambda: sink.received >= len(ids) and sent_count(ids) == len(ids),
        timeout=DELIVERY_TIMEOUT,
        interval=0.1,
    )
    return time.perf_counter() - start if done else None


def delivery_problems(sink: CountingSink, ids: list[int]) -> list[str]:
    rows = OutboxEmail.objects.filter(pk__in=ids)
    expected = set(rows.values_list("key", flat=True))
    problems = [f"{key} received {n} times" for key, n in sink.keys.items() if n > 1]
    problems += [f"{key} never received" for key in sorted(expected - sink.keys.keys())]
    problems += [f"{key} received, not in the outbox" for key in sink.keys.keys() - expected]
    not_sent = rows.exclude(status=OutboxEmail.Status.SENT).count()
    retried = rows.exclude(attempts=1).count()
    if not_sent or retried:
        problems.append(f"{not_sent} rows not sent, {retried} rows not sent at first attempt")
    return problems


def delivery_profile(facts: dict, sink: CountingSink) -> str:
    """cProfile of this process delivering PROFILE_EMAILS to the sink, as a worker does."""
    ids = outbox_fill(facts, PROFILE_EMAILS, "bench-profile")
    profiler = cProfile.Profile()
    smtp = override_settings(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=sink.port,
    )
    with smtp:
        for offset in range(0, len(ids), DELIVERY_BATCH):
            profiler.runcall(emails_deliver, email_ids=ids[offset : offset + DELIVERY_BATCH])
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(PROFILE_LINES)
    stats.sort_stats("tottime").print_stats(PROFILE_LINES)
    return out.getvalue()


def run() -> list:
    section(f"email delivery: {EMAILS:,} emails, {WORKERS} Celery worker processes, SMTP sink")
    report = Report(NAME)
    logs = [log_path(f"worker{i}") for i in range(WORKERS)]
    with (
        dedicated_redis(),
        bench_database(NAME) as database_url,
        publishing_off(),
        smtp_sink() as sink,
        Celery("bench-publisher", broker=REDIS_URL, set_as_current=False) as publisher,
    ):
        facts = order_placed_facts()
        ids = outbox_fill(facts, EMAILS, "bench-delivery")
        database_settle("notifications_outboxemail")  # no autovacuum of the fill mid-run
        report.note(f"{len(ids):,} emails pending; starting {WORKERS} workers")
        with ExitStack() as workers:
            env = worker_environment(database_url, sink.port)
            processes = [
                workers.enter_context(child_process(worker_command(index), env=env, log=log))
                for index, log in enumerate(logs)
            ]
            if not wait_until(lambda: workers_answering(publisher) >= WORKERS, timeout=60):
                raise RuntimeError(f"workers did not answer:\n{log_tail(logs[0])}")
            with cpu_meter(processes) as cpu:
                seconds = deliver(publisher, ids, sink)
        report_delivery(report, seconds, sink, ids, logs)
        report_cpu(report, cpu, len(ids))
        if seconds is None or not TARGET_RATE.met_by(len(ids) / seconds):
            report.note("below target: cProfile of one process delivering, as a worker does")
            print(delivery_profile(facts, sink), flush=True)
    return report.figures


def report_delivery(report: Report, seconds, sink: CountingSink, ids: list[int], logs) -> None:
    if seconds is None:
        report.note(f"timed out after {DELIVERY_TIMEOUT} s: {sent_count(ids)} sent")
        report.note(log_tail(logs[0]))
        report.add("emails/second", 0, "/s", TARGET_RATE)
    else:
        report.add("delivery time", seconds, "s")
        report.add("emails/second", len(ids) / seconds, "/s", TARGET_RATE)
        report.add("emails/second per worker process", len(ids) / seconds / WORKERS, "/s")
    report.add("messages the SMTP sink received", sink.received)
    report.check("each key received exactly once, sent at first try", delivery_problems(sink, ids))


def report_cpu(report: Report, cpu: CpuMeter, emails: int) -> None:
    """Where the machine's CPU went during delivery, per email sent."""
    report.note(cpu.summary())
    workers = sum(seconds for group, seconds in cpu.used.items() if group.startswith("worker"))
    report.add("worker CPU per email", workers / emails * 1000, "ms")
    report.add("PostgreSQL CPU per email", cpu.used["postgres"] / emails * 1000, "ms")
    report.add("SMTP sink CPU per email (the bench's)", cpu.used[SINK] / emails * 1000, "ms")
