import os

import psycopg
import pytest
from django.conf import settings

from tests.factories import product_create

IN_CI = os.environ.get("CI", "").lower() == "true"


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
