"""Real Celery workers (subprocesses) against the Redis and PostgreSQL on the machine:
the whole restock flow through the broker, a broker outage, and a worker killed in the
middle of an allocation."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection

from backorders.selectors import inventory_problems
from backorders.services import stock_receive
from backorders.tasks import backorders_sweep
from catalog.models import Product, StockMovement
from notifications.models import OutboxEmail
from notifications.tasks import emails_sweep
from orders.models import OrderLine
from payments.models import Payment
from storefront.celery import app as celery_app
from tests.conftest import IN_CI
from tests.factories import (
    backorders_bulk_create,
    order_checkout_create,
    order_create,
    product_create,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

REDIS_URL = "redis://127.0.0.1:6379/14"  # a database of its own, flushed per test
DEAD_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
ROOT = Path(__file__).resolve().parent.parent


def redis_flush(url: str) -> None:
    """Empty the Redis database at `url`; skip the test when Redis is unreachable
    (fail it under CI)."""
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).flushdb()
    except redis.ConnectionError as error:
        if IN_CI:
            pytest.fail(f"CI=true and Redis is unreachable: {error}")
        pytest.skip(f"Redis unreachable: {error}")


def this_database_url() -> str:
    """The URL of the database this test runs on, for processes it starts."""
    database = settings.DATABASES["default"]
    return (
        f"postgres://{database['USER']}@{database['HOST']}:"
        f"{database['PORT'] or 5432}/{database['NAME']}"
    )


@pytest.fixture
def broker():
    """Point this process's Celery app at a broker, as a web process configured with
    CELERY_BROKER_URL would be, and restore the in-process default afterwards."""
    redis_flush(REDIS_URL)
    saved = {key: celery_app.conf[key] for key in ("broker_url", "task_always_eager")}

    def use(url: str) -> None:
        celery_app.conf.update(broker_url=url, task_always_eager=False)
        _reset_connections()

    use(REDIS_URL)
    yield use
    celery_app.conf.update(saved)
    _reset_connections()


def _reset_connections() -> None:
    # Drop the app's references only: kombu keeps one pool per broker URL, and closing
    # it would leave it closed for the next test that uses the same URL.
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def workers(tmp_path):
    """Start Celery workers on demand; each is killed at the end of the test. A worker
    consumes `queues` (comma-separated), or with queues=None whatever a plain
    `celery worker` does."""
    started = []

    def start(queues: str | None = "celery,email", **env) -> subprocess.Popen:
        log = tmp_path / f"worker-{len(started)}.log"
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "storefront",
                "worker",
                "--concurrency=1",
                *([f"--queues={queues}"] if queues else []),
                "--loglevel=info",
                "--without-heartbeat",
                "--without-mingle",
                "--without-gossip",
            ],
            cwd=ROOT,
            env={**os.environ, **_worker_env(tmp_path), **env},
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its pool children die with it
        )
        started.append(worker)
        wait_for(lambda: "ready." in log.read_text(), f"worker start (see {log})")
        return worker

    yield start
    for worker in started:
        kill(worker)


def _worker_env(tmp_path) -> dict[str, str]:
    return {
        "DEBUG": "true",
        "DJANGO_SETTINGS_MODULE": "storefront.settings",
        "DATABASE_URL": this_database_url(),
        "CELERY_BROKER_URL": REDIS_URL,
        "EMAIL_URL": f"filemail:///{tmp_path}/mail",
        "SITE_URL": "http://testserver",
    }


def kill(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()


def wait_for(condition, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def all_emails_sent() -> bool:
    return not OutboxEmail.objects.exclude(status=OutboxEmail.Status.SENT).exists()


def mailed_keys(tmp_path) -> list[str]:
    mail_dir = tmp_path / "mail"
    return [
        line.split(":", 1)[1].strip()
        for path in (mail_dir.iterdir() if mail_dir.exists() else [])
        for line in path.read_text().splitlines()
        if line.startswith("X-Outbox-Key:")
    ]


def test_checkout_restock_allocation_and_email_through_a_real_worker(broker, workers, tmp_path):
    workers()
    grinder = product_create(sku="GRINDER")
    orders = [order_create({grinder: 1}, email=f"{n}@example.com") for n in range(3)]
    stock_receive(product=grinder, quantity=2)
    wait_for(lambda: Product.objects.get(pk=grinder.pk).allocated == 2, "allocation")
    wait_for(all_emails_sent, "email delivery")
    assert [o.lines.get().allocated for o in orders] == [1, 1, 0]
    keys = mailed_keys(tmp_path)
    assert sorted(keys) == sorted(OutboxEmail.objects.values_list("key", flat=True))
    assert len(keys) == len(set(keys)) == 5  # 3 placed + 2 allocated, each once
    assert inventory_problems() == []


def test_broker_down_loses_nothing(broker, workers, settings):
    broker(DEAD_BROKER_URL)
    grinder = product_create(sku="GRINDER")
    started = time.monotonic()
    order = order_create({grinder: 1})  # commits; its email cannot be published
    stock_receive(product=grinder, quantity=1)  # commits; its allocation cannot either
    assert time.monotonic() - started < 10  # the shopper and staff are not kept waiting
    assert order.lines.get().backordered == 1
    assert OutboxEmail.objects.get().status == OutboxEmail.Status.PENDING

    broker(REDIS_URL)  # the broker is back; beat's sweeps run
    workers()
    settings.EMAIL_SWEEP_GRACE_SECONDS = 0
    assert backorders_sweep() == 1
    wait_for(lambda: order.lines.get().allocated == 1, "allocation by the sweep")
    emails_sweep()
    wait_for(lambda: OutboxEmail.objects.count() == 2, "the allocated email")
    emails_sweep()
    wait_for(all_emails_sent, "delivery by the sweep")
    assert inventory_problems() == []


def test_worker_killed_mid_allocation_is_finished_by_redelivery(broker, workers):
    grinder = product_create(sku="GRINDER")
    backorders_bulk_create(grinder, 3000)
    first = workers(BACKORDER_ALLOCATION_BATCH_SIZE="10", CELERY_VISIBILITY_TIMEOUT="3")
    stock_receive(product=grinder, quantity=3000)
    wait_for(lambda: Product.objects.get(pk=grinder.pk).allocated > 0, "allocation to start")
    kill(first)
    allocated = Product.objects.get(pk=grinder.pk).allocated
    assert 0 < allocated < 3000, "the worker finished before it could be killed"
    assert inventory_problems() == []  # every batch is all or nothing

    time.sleep(3)  # the unacknowledged task becomes visible again
    workers(CELERY_VISIBILITY_TIMEOUT="3")
    wait_for(lambda: Product.objects.get(pk=grinder.pk).allocated == 3000, "redelivery", 120)
    assert OrderLine.objects.filter(product=grinder, allocated=1, backordered=0).count() == 3000
    assert StockMovement.objects.filter(product=grinder, kind="allocation").count() == 3000
    assert inventory_problems() == []
    connection.close()


def test_a_plain_worker_delivers_customer_email(broker, workers, tmp_path):
    """A worker started with no --queues consumes the email queue too: every queue is
    declared in settings, so a store run with plain `celery worker`s emails its
    customers instead of piling their emails up on a queue nobody reads."""
    route = celery_app.amqp.router.route({}, "notifications.tasks.emails_deliver")
    assert route["queue"].name == "email"  # delivery does not travel on the default queue
    workers(queues=None)
    order_create({product_create(sku="GRINDER"): 1})
    wait_for(all_emails_sent, "delivery by a plain worker", timeout=20)
    assert mailed_keys(tmp_path) == [OutboxEmail.objects.get().key]


FAILS_LATER = "4000 0000 0000 0341"


def test_arriving_units_are_charged_by_a_plain_worker_once(broker, workers):
    """The production shape: plain workers allocate the arrival, charge each saved
    card off-session once, and a card that fails holds its units and emails a pay link."""
    workers(queues=None)
    tent = product_create(sku="TENT", price="40.00")
    paying = [order_checkout_create({tent: 1}, email=f"{n}@example.com") for n in range(3)]
    failing = order_checkout_create({tent: 1}, email="f@example.com", card_number=FAILS_LATER)
    stock_receive(product=tent, quantity=4)
    wait_for(
        lambda: Payment.objects.filter(status__in=["succeeded", "failed"]).count() == 4,
        "the charges",
    )
    assert [o.lines.get().paid for o in paying] == [1, 1, 1]
    assert failing.payments.get().status == "failed"
    wait_for(lambda: OutboxEmail.objects.filter(event="payment_failed").exists(), "pay link")
    assert Payment.objects.count() == 4  # one charge per order, none twice
    assert inventory_problems() == []
