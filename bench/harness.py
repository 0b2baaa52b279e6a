"""What every benchmark shares: Django set-up for a bench run, a throw-away database per
benchmark, figures with targets, child processes and a few timing helpers."""

import math
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from unittest import mock
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"

# The bench process runs the production settings (DEBUG off, so no query log slows the
# measured code); these only fill what production settings insist on.
BENCH_ENVIRONMENT = {
    "DJANGO_SETTINGS_MODULE": "storefront.settings",
    "SECRET_KEY": "bench-only-secret-key-not-for-production",
    "SITE_URL": "http://127.0.0.1:8000",
}


def django_setup() -> None:
    for name, value in BENCH_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    import django
    from django.conf import settings

    django.setup()
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise SystemExit("bench needs DATABASE_URL=postgres://… (see the Makefile's bench target)")


# --- Figures ------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    bound: float
    at_least: bool  # True: a value ≥ bound passes; False: a value ≤ bound passes

    def met_by(self, value: float) -> bool:
        return value >= self.bound if self.at_least else value <= self.bound

    def __str__(self) -> str:
        return f"{'≥' if self.at_least else '≤'} {self.bound:g}"


@dataclass(frozen=True)
class Figure:
    benchmark: str
    label: str
    value: float
    unit: str
    target: Target | None = None

    @property
    def verdict(self) -> str:
        if self.target is None:
            return ""
        return "PASS" if self.target.met_by(self.value) else "MISS"

    def line(self) -> str:
        value = f"{self.value:,.2f}" if abs(self.value) < 100 else f"{self.value:,.0f}"
        target = f"target {self.target} {self.unit}".strip() if self.target else ""
        return f"  {self.label:<46} {value:>12} {self.unit:<10} {target:<22} {self.verdict}"


class Report:
    """Figures of one benchmark, printed as they are measured."""

    def __init__(self, benchmark: str):
        self.benchmark = benchmark
        self.figures: list[Figure] = []

    def add(self, label: str, value: float, unit: str = "", target: Target | None = None):
        figure = Figure(self.benchmark, label, value, unit, target)
        self.figures.append(figure)
        print(figure.line(), flush=True)
        return figure

    def note(self, text: str) -> None:
        print(f"  {text}", flush=True)

    def check(self, label: str, problems: Sequence[str]) -> bool:
        """A correctness check: 1 when `problems` is empty, else 0 (target ≥ 1)."""
        self.add(label, 0 if problems else 1, "ok", Target(1, at_least=True))
        for problem in problems[:10]:
            self.note(f"    ! {problem}")
        return not problems


def section(title: str) -> None:
    print(f"\n== {title} ==", flush=True)


# --- Databases ------------------------------------------------------------------------


def _admin_connection():
    import psycopg
    from django.conf import settings

    database = settings.DATABASES["default"]
    return psycopg.connect(
        host=database["HOST"] or "127.0.0.1",
        port=database["PORT"] or 5432,
        user=database["USER"],
        password=database["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    )


def _database_drop(admin, name: str) -> None:
    from psycopg import sql

    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _point_django_at(name: str) -> None:
    from django.db import connections

    connections.close_all()
    # settings.DATABASES["default"] is the dict the connection reads its settings from.
    connections["default"].settings_dict["NAME"] = name


def database_url(name: str) -> str:
    """A DATABASE_URL for child processes (gunicorn, Celery) naming database `name`."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    password = f":{quote(database['PASSWORD'], safe='')}" if database["PASSWORD"] else ""
    host = database["HOST"] or "127.0.0.1"
    return f"postgres://{quote(database['USER'], safe='')}{password}@{host}:{database['PORT'] or 5432}/{name}"


@contextmanager
def bench_database(benchmark: str) -> Iterator[str]:
    """A fresh, migrated database `storefront_bench_<benchmark>` that Django uses while
    the block runs; dropped afterwards. Yields its URL for child processes."""
    from django.core.management import call_command
    from psycopg import sql

    name = f"storefront_bench_{benchmark}"
    original = _current_database_name()
    with _admin_connection() as admin:
        _database_drop(admin, name)
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    _point_django_at(name)
    try:
        call_command("migrate", verbosity=0, interactive=False)
        yield database_url(name)
    finally:
        _point_django_at(original)
        with _admin_connection() as admin:
            _database_drop(admin, name)


def _current_database_name() -> str:
    from django.db import connections

    return connections["default"].settings_dict["NAME"]


def postgres_version() -> str:
    with _admin_connection() as admin:
        return admin.execute("SHOW server_version").fetchone()[0]


def vacuum_analyze(*tables: str) -> None:
    """Fresh planner statistics and visibility maps, so set-built data plans as a live
    table would (autovacuum may not have reached it yet)."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM ANALYZE {table}")


@contextmanager
def publishing_off() -> Iterator[None]:
    """No task is published after commit: the benchmark calls the services itself."""
    with (
        mock.patch("backorders.services.enqueue_on_commit"),
        mock.patch("notifications.services.enqueue_on_commit"),
    ):
        yield


# --- Child processes ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(condition: Callable[[], bool], *, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


@contextmanager
def child_process(command: Sequence[str], *, env: dict[str, str], log: Path) -> Iterator:
    """Run `command` in its own process group (its children die with it), output to
    `log`; stopped with SIGTERM, then SIGKILL, when the block ends."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            list(command),
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        process_group_stop(process)


def process_group_stop(process: subprocess.Popen, *, grace: float = 10) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def child_environment(**overrides: str) -> dict[str, str]:
    """This process's environment without a broker (unless given), plus `overrides`."""
    env = {k: v for k, v in os.environ.items() if k != "CELERY_BROKER_URL"}
    env.update(overrides)
    return env


def log_tail(log: Path, lines: int = 20) -> str:
    if not log.exists():
        return "(no log)"
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]
