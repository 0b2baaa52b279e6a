"""Run the benchmarks: `python -m bench [name ...]` (all of them when none is named),
then print every figure again in one table with the machine's facts.

A missed target is a finding, not a failure: the exit status is non-zero only when a
benchmark could not run to the end."""

import importlib
import os
import platform
import sys
import time
import traceback
from pathlib import Path

from bench.harness import Figure, django_setup, postgres_version, redis_version

BENCHMARKS = [
    "restock_fill",
    "eta_refresh",
    "checkout_contention",
    "email_delivery",
    "dashboard",
    "pages",
    "order_flow",
]


def chosen_benchmarks(argv: list[str]) -> list[str]:
    unknown = [name for name in argv if name not in BENCHMARKS]
    if unknown:
        raise SystemExit(f"unknown benchmark {', '.join(unknown)}; choose from {BENCHMARKS}")
    return argv or BENCHMARKS


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


SPEED_LOOP = 3_000_000


def python_speed_ms() -> float:
    """CPU milliseconds a fixed pure-Python loop takes now. This shared machine's speed
    drifts by a third within an hour (docs/performance.md), moving every figure with
    it; this reading, taken with the load average, tells a slow hour from a slow change."""
    start = time.process_time()
    total = 0
    for number in range(SPEED_LOOP):
        total += number % 7
    return (time.process_time() - start) * 1000


def machine_facts() -> list[str]:
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return [
        f"a fixed Python loop now takes {python_speed_ms():.0f} ms of CPU (lower is faster)",
        f"CPUs: {os.cpu_count()} × {cpu_model()}",
        f"Python {platform.python_version()}, PostgreSQL {postgres_version()}, "
        f"Redis {redis_version()}",
        f"load average (1, 5, 15 min) now: {load}",
    ]


def summary(figures: list[Figure], seconds: float) -> None:
    print("\n== summary ==")
    current = None
    for figure in figures:
        if figure.benchmark != current:
            current = figure.benchmark
            print(f" {current}")
        print(figure.line())
    misses = sum(figure.verdict == "MISS" for figure in figures)
    targets = sum(bool(figure.verdict) for figure in figures)
    print(f"\n {targets - misses}/{targets} targets met; total run time {seconds:.0f} s")
    for fact in machine_facts():
        print(f" {fact}")


def main(argv: list[str]) -> int:
    names = chosen_benchmarks(argv)
    django_setup()
    start = time.monotonic()
    print("\n".join(machine_facts()), flush=True)
    figures, crashed = [], []
    for name in names:
        try:
            figures += importlib.import_module(f"bench.{name}").run()
        except Exception:
            traceback.print_exc()
            crashed.append(name)
    summary(figures, time.monotonic() - start)
    if crashed:
        print(f" did not finish: {', '.join(crashed)}")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
