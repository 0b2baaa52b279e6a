import os
import subprocess
import sys
import time
import urllib.request

import psycopg
import pytest
from django.conf import settings
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from tests.factories import product_create

IN_CI = os.environ.get("CI", "").lower() == "true"

# Property-based suites (tests/properties): reproducible (a failure shows the same
# example again), no deadline on shared machines, and fixtures shared by the examples
# of one test on purpose (refused input must leave them unchanged).
hypothesis_settings.register_profile(
    "store",
    derandomize=True,
    deadline=None,
    max_examples=160,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
hypothesis_settings.load_profile("store")
GENERATED_CASES = {"count": 0, "tests": set()}


def pytest_terminal_summary(terminalreporter):
    if GENERATED_CASES["count"]:
        terminalreporter.write_line(
            f"hypothesis: {GENERATED_CASES['count']} generated cases tried across "
            f"{len(GENERATED_CASES['tests'])} property tests"
        )


def _postgres_unreachable() -> str:
    """Why the configured PostgreSQL cannot be used, or '' when it can."""
    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.postgresql":
        return "needs PostgreSQL: run with DATABASE_URL=postgres://… (make test's second pass)"
    try:
        psycopg.connect(
            host=database["HOST"],
            port=database["PORT"] or 5432,
            user=database["USER"],
            password=database["PASSWORD"],
            dbname="postgres",
            connect_timeout=3,
        ).close()
    except psycopg.OperationalError as error:
        return f"PostgreSQL unreachable: {error}"
    return ""


def pytest_collection_modifyitems(config, items):
    needing_postgres = [item for item in items if "postgres" in item.keywords]
    if not needing_postgres:
        return
    reason = _postgres_unreachable()
    if not reason:
        return
    # Under CI an unreachable service is a failure, never a skip.
    for item in needing_postgres:
        if IN_CI:
            item.add_marker(pytest.mark.usefixtures("_fail_without_postgres"))
        else:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def _fail_without_postgres():
    pytest.fail(f"CI=true and {_postgres_unreachable()}")


@pytest.fixture(autouse=True)
def _mail_outbox_and_cache(settings, mailoutbox):
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    """Run after-commit work (task publishing: eager in tests) as a real commit would."""

    def run(function, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return function(*args, **kwargs)

    return run


@pytest.fixture
def kettle(db):
    return product_create(sku="KETTLE", name="Kettle", on_hand=10)


# localstripe, the stateful Stripe API server the Stripe provider is tested against,
# on 127.0.0.1 as PostgreSQL and Redis are; started here when it is not running.
LOCALSTRIPE = "http://127.0.0.1:8420"


def _localstripe_answers() -> bool:
    try:
        with urllib.request.urlopen(f"{LOCALSTRIPE}/js.stripe.com/v3/", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


@pytest.fixture(scope="session")
def localstripe_server():
    server = None
    if not _localstripe_answers():
        server = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from aiohttp import web; from localstripe.server import app; "
                "web.run_app(app, host='127.0.0.1', port=8420, print=None)",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while not _localstripe_answers() and time.monotonic() < deadline:
            time.sleep(0.2)
    if not _localstripe_answers():
        reason = f"localstripe is not answering at {LOCALSTRIPE} (pip install localstripe)"
        if IN_CI:
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)
    yield LOCALSTRIPE
    if server is not None:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def stripe_provider(localstripe_server, settings):
    """The Stripe provider, talking to localstripe."""
    settings.STRIPE_SECRET_KEY = "sk_test_storefront"
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_storefront"
    settings.STRIPE_WEBHOOK_SECRET = "whsec_storefront_test"
    settings.STRIPE_API_BASE = localstripe_server
    settings.STRIPE_JS_URL = f"{localstripe_server}/js.stripe.com/v3/"
    from payments.providers import provider

    return provider()


def _staff_client(client, django_user_model, role: str | None):
    """A logged-in staff user in `role`'s group (None: staff with no permission)."""
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user(role or "nobody", password="pw", is_staff=True)
    if role:
        user.groups.add(Group.objects.get(name=role))
    client.force_login(user)
    return client


@pytest.fixture
def warehouse_client(client, django_user_model):
    from backorders.roles import WAREHOUSE

    return _staff_client(client, django_user_model, WAREHOUSE)


@pytest.fixture
def service_client(client, django_user_model):
    from backorders.roles import CUSTOMER_SERVICE

    return _staff_client(client, django_user_model, CUSTOMER_SERVICE)


@pytest.fixture
def unprivileged_staff_client(client, django_user_model):
    return _staff_client(client, django_user_model, None)
