"""What every benchmark shares: Django set-up for a bench run, a throw-away database per
benchmark, figures with targets, child processes and a few timing helpers."""

import math
import os
import resource
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from unittest import mock
from urllib.parse import quote

import django
import psycopg
import redis
from django.conf import settings
from django.core.management import call_command
from django.db import connection, connections
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"

# The bench process runs the production settings (DEBUG off, so no query log slows the
# measured code); these only fill what production settings insist on.
BENCH_ENVIRONMENT = {
    "DJANGO_SETTINGS_MODULE": "storefront.settings",
    "SECRET_KEY": "bench-only-secret-key-not-for-production",
    "SITE_URL": "http://127.0.0.1:8000",
    # Nothing this process sends may land in the project's var/mail.
    "EMAIL_URL": "memorymail://",
    # Production settings need a shared cache (rate limits); the web children inherit it.
    "CACHE_URL": "redis://127.0.0.1:6379/12",
}


def django_setup() -> None:
    for name, value in BENCH_ENVIRONMENT.items():
        os.environ.setdefault(name, value)

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
        if math.isnan(self.value):
            value = "n/a"
        elif self.value == int(self.value) or abs(self.value) >= 100:
            value = f"{self.value:,.0f}"
        else:
            value = f"{self.value:,.2f}"
        target = f"target {self.target} {self.unit}".strip() if self.target else ""
        return f"  {self.label:<50} {value:>9} {self.unit:<9} {target:<22} {self.verdict}"


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
        """A correctness check: passes when `problems` is empty; prints the first few."""
        self.add(label, len(problems), "problems", Target(0, at_least=False))
        for problem in problems[:10]:
            self.note(f"    ! {problem}")
        return not problems


def section(title: str) -> None:
    print(f"\n== {title} ==", flush=True)


# --- Databases ------------------------------------------------------------------------


def _admin_connection():
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
    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _point_django_at(name: str) -> None:
    connections.close_all()
    # settings.DATABASES["default"] is the dict the connection reads its settings from.
    connections["default"].settings_dict["NAME"] = name


def database_url(name: str) -> str:
    """A DATABASE_URL for child processes (gunicorn, Celery) naming database `name`."""
    database = settings.DATABASES["default"]
    user = quote(database["USER"], safe="")
    if database["PASSWORD"]:
        user += ":" + quote(database["PASSWORD"], safe="")
    host = f"{database['HOST'] or '127.0.0.1'}:{database['PORT'] or 5432}"
    return f"postgres://{user}@{host}/{name}"


@contextmanager
def bench_database(benchmark: str) -> Iterator[str]:
    """A fresh, migrated database `storefront_bench_<benchmark>` that Django uses while
    the block runs; dropped afterwards. Yields its URL for child processes."""
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
    return connections["default"].settings_dict["NAME"]


def postgres_version() -> str:
    with _admin_connection() as admin:
        return admin.execute("SHOW server_version").fetchone()[0]


def database_settle(*tables: str) -> None:
    """Fresh planner statistics and visibility maps for `tables` (set-built data plans
    as a live table's would; autovacuum may not have reached it yet), then a checkpoint,
    so that no timed run pays for the writes of the one before."""
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM ANALYZE {table}")
        cursor.execute("CHECKPOINT")


@contextmanager
def publishing_off() -> Iterator[None]:
    """No task is published after commit: the benchmark calls the services itself.
    Without a broker the bench runs tasks in-process, so a publish left on would run its
    task inside the timing (orders.promises: re-dating the queue, telling customers;
    orders.services: charging what a fill batch allocated)."""
    with (
        mock.patch("backorders.services.enqueue_on_commit"),
        mock.patch("notifications.services.enqueue_on_commit"),
        mock.patch("orders.promises.enqueue_on_commit"),
        mock.patch("orders.services.enqueue_on_commit"),
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


def celery_worker(*, hostname: str, queue: str, options: Sequence[str] = ()) -> list[str]:
    """A plain `celery -A storefront worker` for one queue, quiet and without the
    cluster chatter (gossip, mingle, heartbeats) that a benchmark's workers do not use."""
    return [
        str(VENV_BIN / "celery"), "-A", "storefront", "worker", f"--queues={queue}",
        *options, "--loglevel=warning", f"--hostname={hostname}@%h",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip


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


def log_path(name: str) -> Path:
    """Where a child process writes its output; kept after the run for a look."""
    directory = Path(tempfile.gettempdir()) / "storefront-bench"
    directory.mkdir(exist_ok=True)
    return directory / f"{name}.log"


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


def redis_version(url: str = "redis://127.0.0.1:6379/0") -> str:
    try:
        return redis.Redis.from_url(url, socket_connect_timeout=2).info("server")["redis_version"]
    except redis.RedisError:
        return "unreachable"


# --- CPU accounting -------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# pid, command name, process group → does the process belong to a group?
ProcessMatch = Callable[[int, str, int], bool]


def _processes() -> Iterator[tuple[int, str, int, float]]:
    """(pid, command name, process group, CPU seconds) of every process. A process's
    seconds include its children that have exited (the postmaster's include the
    backends of closed connections), so a group's total survives a child's exit."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # it exited meanwhile
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()  # fields[0] is stat's 3rd field
        cpu = sum(map(int, fields[11:15])) / CLOCK_TICKS  # utime, stime, cutime, cstime
        yield int(entry.name), name, int(fields[2]), cpu


def _machine_busy_seconds() -> float:
    """CPU seconds all CPUs have spent busy since boot (not idle, not waiting on I/O)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(
        int, Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    )
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def _reaped_children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """CPU seconds used by named groups of processes while a block runs, and by the
    rest of the machine (other users of this shared machine included). A process that
    exits inside the block counts only once its parent has reaped it, under the parent's
    group, which must be its own."""

    def __init__(self, groups: dict[str, ProcessMatch], *, reaped_children: str = ""):
        """With `reaped_children`, the CPU of this process's children that exit and are
        reaped inside the block (a load client run to its end) is a group of that name:
        they are gone before the meter's last look at the processes."""
        self.groups = groups
        self.reaped_children = reaped_children
        self.used: dict[str, float] = {}
        self.seconds = 0.0

    def _snapshot(self) -> dict[str, dict[int, float]]:
        snapshot: dict[str, dict[int, float]] = {group: {} for group in self.groups}
        for pid, name, group_id, cpu in _processes():
            for group, match in self.groups.items():
                if match(pid, name, group_id):
                    snapshot[group][pid] = cpu
                    break
        return snapshot

    def __enter__(self) -> "CpuMeter":
        self._children_start = _reaped_children_cpu()
        self._start = (time.monotonic(), _machine_busy_seconds(), self._snapshot())
        return self

    def __exit__(self, *exc_info) -> None:
        start_time, start_busy, before = self._start
        after = self._snapshot()
        self.seconds = time.monotonic() - start_time
        # A process that exited meanwhile took its whole life's CPU into its parent's
        # (the postmaster's, gunicorn's master's), so its share from before the block
        # is taken off too: totals before and after, not per surviving process.
        for group in self.groups:
            self.used[group] = sum(after[group].values()) - sum(before[group].values())
        if self.reaped_children:
            self.used[self.reaped_children] = _reaped_children_cpu() - self._children_start
        self.used["rest of the machine"] = (
            _machine_busy_seconds() - start_busy - sum(self.used.values())
        )

    def summary(self) -> str:
        available = self.seconds * (os.cpu_count() or 1)
        parts = ", ".join(f"{group} {cpu:.1f}" for group, cpu in self.used.items())
        return f"CPU seconds used: {parts}; of {available:.1f} available ({self.seconds:.1f} s)"


def in_process_group(*processes: subprocess.Popen) -> ProcessMatch:
    """Processes in the process group of any of `processes` (each leads its own)."""
    leaders = {process.pid for process in processes}
    return lambda pid, name, group_id: group_id in leaders


def this_process(pid: int, name: str, group_id: int) -> bool:
    return pid == os.getpid()


def postgres_server(pid: int, name: str, group_id: int) -> bool:
    return name.startswith("postgres")
