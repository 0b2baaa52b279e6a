"""Checkout under contention: real HTTP checkouts through gunicorn (4 sync workers,
DEBUG off, tasks in-process, email to files), 16 concurrent clients.

Each client repeats the shopper's path: GET the product page (CSRF token), POST
/cart/add/, GET /checkout/ (token), POST /checkout/ accepting the back-order; success is
a 302 to /orders/<token>/. Latency is timed for the checkout POST alone (the placement
under the product lock) and for the whole four-request sequence; throughput counts
placed orders per second of the phase.

Phases, alternated over two rounds in one run: (a) hot, all 16 clients on one product;
(b) spread, each client on its own product. Target: hot ≥ 0.8x spread in orders/second
(the product row lock must not serialise more than the machine already does). Then a
race on a `deny` product with 50 units until every client is refused; afterwards no
product may be oversold and the invariants (check_inventory) must hold.
"""

import http.client
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from html import unescape
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

from django.db.models import Sum

from backorders.selectors import inventory_problems
from backorders.services import stock_receive
from bench.harness import (
    ROOT,
    VENV_BIN,
    CpuMeter,
    Report,
    Target,
    bench_database,
    child_environment,
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
from catalog.policy import BackorderPolicy
from notifications.models import OutboxEmail
from orders.models import Order, OrderLine

NAME = "checkout_contention"
CLIENTS = 16
WEB_WORKERS = 4
ROUNDS = 2
PHASE_SECONDS = 10  # per phase and round: 20 s of each phase in all
WARMUP_SECONDS = 3
STOCK = 10  # per product: the first orders allocate, most wait on back-order
DENY_STOCK = 50
DENY_RACE_SECONDS = 60  # a bound only; the race ends when every client is refused
TARGET_RATIO = Target(0.8, at_least=True)
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
FORM_ERROR = re.compile(r'class="message message-error" role="alert">(.*?)</div>', re.DOTALL)
SHOPPER_FORM = {
    "email": "shopper@example.com",
    "name": "Sam Shopper",
    "shipping_address": "1 Queue Street\nFifo Town",
    "shipping_preference": "ship_ready_now",
    "accept_backorder": "on",
    # The built-in test provider's card that succeeds: the checkout charges what is in
    # stock and saves the card for the rest (tests/factories.CARD).
    "card_number": "4242 4242 4242 4242",
    "card_expiry": "12/39",
    "card_cvc": "123",
}


@dataclass(frozen=True)
class ProductRef:
    pk: int
    slug: str


@dataclass(frozen=True)
class Attempt:
    product: int
    placed: bool
    refusal: str  # why the store said no (HTTP 400), e.g. a sold-out `deny` product
    post_seconds: float
    sequence_seconds: float
    error: str = ""  # anything else: a failed request, an unexpected status

    @property
    def refused(self) -> bool:
        return bool(self.refusal)


def form_error(page: str) -> str:
    """The checkout form's error as the shopper reads it."""
    match = FORM_ERROR.search(page)
    text = re.sub(r"<[^>]+>", " ", match.group(1)) if match else "(no message)"
    return " ".join(unescape(text).split())


class Shopper:
    """One browser: its own cookies, one connection per request (gunicorn's sync
    workers close each connection after the response)."""

    def __init__(self, port: int):
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict | None = None):
        """(status, Location header, body)"""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode()
            self._remember_cookies(response.headers.get_all("Set-Cookie") or [])
            return response.status, response.getheader("Location", ""), text
        finally:
            connection.close()

    def _remember_cookies(self, set_cookie_headers: list[str]) -> None:
        for header in set_cookie_headers:
            for name, morsel in SimpleCookie(header).items():
                if morsel["max-age"] == "0":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value

    def buy(self, product: ProductRef, *, status_page: bool = False) -> Attempt:
        """Product page, add to cart, checkout page, place the order; then, with
        `status_page`, the order's status page the placement redirects to."""
        start = time.perf_counter()
        try:
            token = self._csrf_token("GET", f"/products/{product.slug}/")
            form = {"csrfmiddlewaretoken": token, "product_id": product.pk, "quantity": 1}
            status, _, _ = self.request("POST", "/cart/add/", form)
            if status != 302:
                raise RuntimeError(f"cart add answered {status}")
            token = self._csrf_token("GET", "/checkout/")
            post_start = time.perf_counter()
            status, location, page = self.request(
                "POST", "/checkout/", {**SHOPPER_FORM, "csrfmiddlewaretoken": token}
            )
            placed_at = time.perf_counter()
            landed = status == 302 and location.startswith("/orders/")
            if status_page and landed and (answer := self.request("GET", location)[0]) != 200:
                raise RuntimeError(f"status page answered {answer}")
        except (OSError, RuntimeError, http.client.HTTPException) as error:
            self.cookies.clear()  # start again as a new shopper
            seconds = time.perf_counter() - start
            return Attempt(product.pk, False, "", 0.0, seconds, repr(error))
        end = time.perf_counter()
        placed = status == 302 and location.startswith("/orders/")
        if not placed:
            self.cookies.clear()  # the refused item stays in the cart: a new shopper
        refusal = form_error(page) if status == 400 else ""
        error = "" if placed or refusal else f"checkout answered {status}"
        return Attempt(product.pk, placed, refusal, placed_at - post_start, end - start, error)

    def _csrf_token(self, method: str, path: str) -> str:
        status, _, page = self.request(method, path)
        match = CSRF_INPUT.search(page)
        if status != 200 or match is None:
            raise RuntimeError(f"{path} answered {status} without a CSRF token")
        return match.group(1)


@dataclass
class PhaseResult:
    seconds: float = 0.0
    attempts: list[Attempt] = field(default_factory=list)

    def merge(self, other: "PhaseResult") -> None:
        self.seconds += other.seconds
        self.attempts += other.attempts

    @property
    def placed(self) -> list[Attempt]:
        return [attempt for attempt in self.attempts if attempt.placed]

    @property
    def errors(self) -> list[str]:
        return [attempt.error for attempt in self.attempts if attempt.error]

    @property
    def refusals(self) -> list[str]:
        return [attempt.refusal for attempt in self.attempts if attempt.refusal]

    @property
    def orders_per_second(self) -> float:
        return len(self.placed) / self.seconds


def shop(
    port: int,
    assignment: list[ProductRef],
    *,
    seconds: float,
    until_refused=False,
    status_page=False,
):
    """Client i buys assignment[i] over and over for `seconds` (or until refused)."""
    deadline = time.monotonic() + seconds
    attempts: list[list[Attempt]] = [[] for _ in assignment]

    def client(index: int) -> None:
        shopper = Shopper(port)
        while time.monotonic() < deadline:
            attempts[index].append(shopper.buy(assignment[index], status_page=status_page))
            if until_refused and attempts[index][-1].refused:
                return

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(assignment))]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return PhaseResult(time.perf_counter() - start, [a for each in attempts for a in each])


def products_create() -> dict[str, list[ProductRef]]:
    """The hot product, 16 spread products, one `deny` product and one to warm up on."""
    category, _ = Category.objects.get_or_create(name="Bench", slug="bench")
    specs = {
        "hot": [("HOT", BackorderPolicy.ALLOW, STOCK)],
        "spread": [(f"SPREAD{i:02}", BackorderPolicy.ALLOW, STOCK) for i in range(CLIENTS)],
        "deny": [("DENY", BackorderPolicy.DENY, DENY_STOCK)],
        "warmup": [("WARMUP", BackorderPolicy.ALLOW, STOCK)],
    }
    refs = {}
    for group, rows in specs.items():
        refs[group] = []
        for sku, policy, stock in rows:
            product = Product.objects.create(
                sku=sku,
                slug=sku.lower(),
                name=f"Bench item {sku}",
                category=category,
                price=Decimal("10.00"),
                backorder_policy=policy,
            )
            stock_receive(product=product, quantity=stock, reference="opening stock")
            refs[group].append(ProductRef(product.pk, product.slug))
    return refs


def web_environment(database_url: str, port: int, mail_dir: Path) -> dict[str, str]:
    return child_environment(
        DEBUG="false",
        SECRET_KEY="bench-only-secret-key-not-for-production",
        ALLOWED_HOSTS="127.0.0.1",
        SITE_URL=f"http://127.0.0.1:{port}",
        SECURE_SSL_REDIRECT="false",
        SESSION_COOKIE_SECURE="false",
        CSRF_COOKIE_SECURE="false",
        DATABASE_URL=database_url,
        EMAIL_URL=f"filemail:///{mail_dir}",  # filemail:////tmp/…: an absolute path
        LOG_LEVEL="WARNING",
    )


def web_start(env: dict[str, str], port: int, log: Path, *, workers: int = WEB_WORKERS, options=()):
    """collectstatic (the manifest storage needs it with DEBUG off), then gunicorn with
    `workers` sync processes, or as `options` say (a worker class, threads)."""
    with log.open("wb") as output:
        subprocess.run(
            [str(VENV_BIN / "python"), "manage.py", "collectstatic", "--noinput", "-v0"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            check=True,
            timeout=120,
        )
    command = [
        str(VENV_BIN / "gunicorn"),
        "storefront.wsgi",
        f"--workers={workers}",
        f"--bind=127.0.0.1:{port}",
        *options,
    ]
    return child_process(command, env=env, log=log)


def web_ready(port: int) -> bool:
    try:
        status, _, _ = Shopper(port).request("GET", "/healthz")
    except OSError:
        return False
    return status == 200


def report_latencies(report: Report, label: str, result: PhaseResult) -> None:
    posts = sorted(attempt.post_seconds * 1000 for attempt in result.placed)
    sequences = [attempt.sequence_seconds * 1000 for attempt in result.placed]
    report.add(f"{label}: orders/second", result.orders_per_second, "/s")
    for name, fraction in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99)):
        report.add(f"{label}: POST /checkout/ {name}", percentile(posts, fraction), "ms")
    if sequences:
        report.add(f"{label}: 4-request sequence p50", statistics.median(sequences), "ms")


def report_phase(report: Report, label: str, result: PhaseResult, *, figures=True) -> None:
    if figures:
        report_latencies(report, label, result)
    report.note(
        f"{label}: {len(result.placed)} orders in {result.seconds:.1f} s, "
        f"{len(result.refusals)} refused, {len(result.errors)} errors"
    )
    for refusal, count in Counter(result.refusals).most_common(3):
        report.note(f"  refused {count} × {refusal!r}")
    for error in sorted(set(result.errors))[:5]:
        report.note(f"  ! {error}")


def oversell_problems(sold: dict[int, int], refs: dict[str, list[ProductRef]]) -> list[str]:
    """No product allocated past its stock; every placed order's unit is allocated or
    waiting; the deny product sold exactly its stock; invariants 1-4 hold."""
    problems = list(inventory_problems())
    units_ordered = dict(
        OrderLine.objects.values_list("product_id").annotate(units=Sum("quantity"))
    )
    for product in Product.objects.order_by("pk"):
        ordered = units_ordered.get(product.pk, 0)
        if product.allocated > product.on_hand:
            problems.append(f"{product.sku}: allocated {product.allocated} > {product.on_hand}")
        if product.allocated != min(ordered, product.on_hand):
            problems.append(f"{product.sku}: {product.allocated} allocated of {ordered} ordered")
        if product.allocated + product.backordered != ordered:
            problems.append(f"{product.sku}: allocated + waiting ≠ {ordered} ordered")
        if product.pk in sold and sold[product.pk] != ordered:
            problems.append(f"{product.sku}: clients saw {sold[product.pk]} orders, db {ordered}")
    deny = Product.objects.get(pk=refs["deny"][0].pk)
    if units_ordered.get(deny.pk) != DENY_STOCK or deny.backordered:
        problems.append(f"DENY: sold {units_ordered.get(deny.pk)} of {DENY_STOCK} units")
    return problems


def email_problems(mail_dir: Path) -> list[str]:
    """Every order's "order placed" email was sent (in-process) to the mail files."""
    orders = Order.objects.count()
    sent = OutboxEmail.objects.filter(status=OutboxEmail.Status.SENT).count()
    in_files = sum(path.read_bytes().count(b"X-Outbox-Key:") for path in mail_dir.iterdir())
    if orders == sent == in_files:
        return []
    return [f"{orders} orders, {sent} emails marked sent, {in_files} in the mail files"]


def run() -> list:
    section(f"checkout under contention: {CLIENTS} HTTP clients, gunicorn × {WEB_WORKERS}")
    report = Report(NAME)
    mail_dir = Path(tempfile.mkdtemp(prefix="storefront-bench-mail-"))
    log = log_path("gunicorn")
    try:
        with bench_database(NAME) as database_url, publishing_off():
            refs = products_create()
            port = free_port()
            env = web_environment(database_url, port, mail_dir)
            with web_start(env, port, log) as web:
                if not wait_until(lambda: web_ready(port), timeout=60, interval=0.25):
                    raise RuntimeError(f"gunicorn did not start:\n{log_tail(log)}")
                measure(report, port, refs, mail_dir, cpu_groups(web))
    finally:
        shutil.rmtree(mail_dir, ignore_errors=True)
    return report.figures


def cpu_groups(web) -> dict:
    return {
        "gunicorn": in_process_group(web),
        "postgres": postgres_server,
        "this process (clients)": this_process,
    }


def measure(report: Report, port: int, refs: dict[str, list[ProductRef]], mail_dir, cpu_groups):
    warmup = shop(port, refs["warmup"] * CLIENTS, seconds=WARMUP_SECONDS)
    report_phase(report, "warm-up (not counted)", warmup, figures=False)
    hot, spread = phases_measure(report, port, refs, cpu_groups)
    report_phase(report, "(a) hot", hot)
    report_phase(report, "(b) spread", spread)
    ratio = hot.orders_per_second / spread.orders_per_second
    report.add("hot / spread orders/second", ratio, "x", TARGET_RATIO)
    race = shop(port, refs["deny"] * CLIENTS, seconds=DENY_RACE_SECONDS, until_refused=True)
    report.note(
        f"deny race: {len(race.placed)} orders placed for {DENY_STOCK} units, "
        f"{sum(a.refused for a in race.attempts)} refusals, {len(race.errors)} errors"
    )
    sold = Counter(a.product for phase in (warmup, hot, spread, race) for a in phase.placed)
    report.check("no oversell, invariants hold", oversell_problems(sold, refs))
    report.check("request errors", warmup.errors + hot.errors + spread.errors + race.errors)
    # The back-order was accepted in the form, so each of these is a shopper turned away.
    refused = warmup.refusals + hot.refusals + spread.refusals
    report.add("checkouts refused on `allow` products", len(refused), "orders")
    report.check("order-placed emails sent", email_problems(mail_dir))


def phases_measure(report: Report, port: int, refs, cpu_groups) -> tuple[PhaseResult, ...]:
    """Hot and spread phases, ROUNDS times each, taking turns to go first."""
    phases = {
        "hot": (refs["hot"] * CLIENTS, PhaseResult()),
        "spread": (refs["spread"], PhaseResult()),
    }
    for round_number in range(1, ROUNDS + 1):
        order = ["hot", "spread"] if round_number % 2 else ["spread", "hot"]
        for label in order:
            assignment, total = phases[label]
            with CpuMeter(cpu_groups) as cpu:
                result = shop(port, assignment, seconds=PHASE_SECONDS)
            total.merge(result)
            report.note(
                f"round {round_number}, {label}: {result.orders_per_second:.1f} orders/s; "
                f"{cpu.summary()}"
            )
    return phases["hot"][1], phases["spread"][1]
