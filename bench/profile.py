"""Where a page's time goes: `python -m bench.profile [path ...]` builds the pages
benchmark's store (bench/pages.py), then serves each page REQUESTS times through
Django's whole request cycle in this process, with production settings (DEBUG off,
the cache on Redis, PostgreSQL), under pyinstrument, and prints the call tree.

With no path it profiles the pages the pages benchmark loads. Profile before
optimising: docs/performance.md says what each profile showed and what the change it
led to bought.
"""

import os
import sys

from django.core.management import call_command
from django.test import Client
from pyinstrument import Profiler

from bench.harness import bench_database, django_setup, publishing_off, section

REQUESTS = 300


def profile(paths: list[str]) -> None:
    from bench import pages

    with bench_database("profile"), publishing_off():
        built = pages.store_build()
        call_command("collectstatic", interactive=False, verbosity=0)
        # As a shopper's browser arrives in production: over HTTPS, to the site's host.
        client = Client(HTTP_HOST="127.0.0.1")
        for label, path in built.items() if not paths else ((p, p) for p in paths):
            client.get(path, secure=True)  # warm-up: compiled templates, connections, cached cards
            profiler = Profiler(interval=0.0005)
            with profiler:
                for _ in range(REQUESTS):
                    response = client.get(path, secure=True)
                    if response.status_code != 200:
                        raise SystemExit(f"{path}: {response.status_code}")
            section(f"{label} ({path}), {REQUESTS} requests")
            print(profiler.output_text(unicode=True, show_all=False, color=False))


if __name__ == "__main__":
    os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1")
    django_setup()
    profile(sys.argv[1:])
