"""Rate limits hold across web processes: two gunicorn workers (subprocesses) count
each client's requests in the one Redis cache, so the store allows the limit, not the
limit per process."""

import http.cookiejar
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from catalog.policy import BackorderPolicy
from tests.factories import product_create
from tests.test_worker import ROOT, kill, redis_flush, this_database_url, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CACHE_URL = "redis://127.0.0.1:6379/13"  # a database of its own, flushed per test
LIMIT = 5
ATTEMPTS = 14


class Server:
    """The running gunicorn, seen as one client (one address, one cookie jar)."""

    def __init__(self, port: int, access_log):
        self.address, self.access_log = ("127.0.0.1", port), access_log
        self.url = f"http://127.0.0.1:{port}"
        self.cookies = http.cookiejar.CookieJar()  # for the CSRF cookie
        # Redirects are answers to count, not to follow.
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirects
        )

    def request(self, path: str, data: dict | None = None) -> tuple[int, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        try:
            with self.opener.open(self.url + path, body, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def post_on_both_workers(self, path: str, data: dict) -> list[tuple[int, str]]:
        """POST ATTEMPTS times, each on a connection of its own (urllib sends
        `Connection: close`), half to each worker: one worker is kept busy on an
        unfinished request while the other answers, then the other way round."""
        self.request("/orders/lookup/")  # sets the CSRF cookie
        (token,) = (cookie.value for cookie in self.cookies if cookie.name == "csrftoken")
        data = {**data, "csrfmiddlewaretoken": token}
        first = self._hold()  # first in the accept queue: taken by one worker...
        answers = [self.request(path, data) for _ in range(ATTEMPTS // 2)]  # ...not these
        second = self._hold()  # taken by the only free worker
        time.sleep(0.2)  # let it accept before the other worker is free again
        _release(first)
        answers += [self.request(path, data) for _ in range(ATTEMPTS - ATTEMPTS // 2)]
        _release(second)
        return answers

    def _hold(self) -> socket.socket:
        held = socket.create_connection(self.address)
        held.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # more to come
        return held

    def workers_that_answered(self, path: str) -> set[str]:
        lines = map(str.split, self.access_log.read_text().splitlines())
        return {pid for pid, method, url in lines if (method, url) == ("POST", path)}


def _release(held: socket.socket) -> None:
    with held:
        held.sendall(b"Connection: close\r\n\r\n")
        held.recv(1)  # answered: its worker is free again


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None


@pytest.fixture(scope="module")
def gunicorn(django_db_setup, tmp_path_factory):
    """gunicorn with two worker processes on the test database and the Redis cache."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    logs = tmp_path_factory.mktemp("gunicorn")
    env = {
        "DEBUG": "true",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": this_database_url(),
        "CACHE_URL": CACHE_URL,
        "ORDER_LOOKUP_RATE_LIMIT": str(LIMIT),
        "BACK_IN_STOCK_SIGNUP_RATE_LIMIT": str(LIMIT),
        "ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SETTINGS_MODULE": "storefront.settings",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "storefront.wsgi",
            "--workers=2",
            f"--bind=127.0.0.1:{port}",
            f"--access-logfile={logs / 'access.log'}",
            "--access-logformat=%(p)s %(m)s %(U)s",  # which worker answered what
        ],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=(logs / "gunicorn.log").open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = Server(port, logs / "access.log")
    try:
        wait_for(lambda: _healthy(server, process), f"gunicorn (see {logs})", timeout=30)
        yield server
    finally:
        kill(process)


def _healthy(server: Server, process: subprocess.Popen) -> bool:
    if process.poll() is not None:
        pytest.fail(f"gunicorn exited with {process.returncode}")
    try:
        return server.request("/healthz")[0] == 200
    except OSError:  # not listening yet
        return False


@pytest.fixture
def server(gunicorn):
    redis_flush(CACHE_URL)
    return gunicorn


def test_order_lookups_are_limited_across_web_processes(server):
    """ORDER_LOOKUP_RATE_LIMIT lookups from one address are answered, whichever worker
    takes them, and every further one is refused: not the limit once per process."""
    path = "/orders/lookup/"
    answers = server.post_on_both_workers(path, {"number": "100999", "email": "guess@example.com"})
    assert len(server.workers_that_answered(path)) == 2
    statuses = sorted(status for status, _ in answers)
    assert statuses == [400] * LIMIT + [429] * (ATTEMPTS - LIMIT)
    assert sum("No order matches" in body for _, body in answers) == LIMIT


def test_back_in_stock_signups_are_limited_across_web_processes(server):
    """The same for BACK_IN_STOCK_SIGNUP_RATE_LIMIT, on a product one may sign up for."""
    product = product_create(sku="GONE", policy=BackorderPolicy.DENY)
    path = f"/products/{product.slug}/notify-me/"
    answers = server.post_on_both_workers(path, {"email": "waiting@example.com"})
    assert len(server.workers_that_answered(path)) == 2
    statuses = sorted(status for status, _ in answers)
    assert statuses == [302] * LIMIT + [429] * (ATTEMPTS - LIMIT)
