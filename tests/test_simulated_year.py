"""A simulated year of back-orders (issue 8, Proof): the promises engine driven for 365
days by random orders, supplier inbounds that slip, come forward, shrink, grow, arrive
early, late, short or over, or are cancelled, stock nobody announced, shipments, staff
reprioritising, and customers who answer delay notices (wait or cancel), answer too
late, cancel unprompted, or stay silent.

The clock is the simulated moment: django.utils.timezone.now and localdate, which the
services call at run time, answer it, and it only moves forward. Every action runs its
after-commit work as a real commit would (tasks are eager in-process, and
PROMISE_CHANGE_BATCH_SECONDS is 0, so each action is one change batch). Each day starts
with the promises sweep after midnight (the hourly beat's first run of the day); right
after it the test records every broken invariant, naming the day and the line with its
notices, its product's inbounds and recent history:

1. no line waits past its promise without a delay notice sent on or before that promise;
   a line whose ETA breaks its promise, or that has no date with the promise near, has an
   open notice; one that can ship by its promise has none;
2. no customer waits past an unanswered notice that needed consent: the sweep cancelled
   the waiting units (they are not charged) and told the customer; no notice stays open
   past its deadline or once nothing waits; a notice on the order page takes an answer;
3. every date shown is backed: a waiting line's ETA is the date of a confirmed inbound
   of its product (or today, for stock at hand) or none, it is what the customer was
   told, it is what an independent walk of the queue gives (and, weekly, running
   line_etas_refresh again changes nothing); its promise is set, and a promise made at checkout is a
   confirmed inbound's date plus handling or the 30-day default; allow_inbound sells only
   dated units; no "new date" email lacks the date;
4. one email per change batch: no action tells one line twice, no "new date" email
   repeats the date the customer already had, no notice repeats the one it replaced,
   and every notice was emailed.

Weekly and at the end backorders.selectors.inventory_problems() must be empty, and no
error may be logged (a task failing after commit is only logged). The year's totals are
printed at the end (capsys disabled: shown in `make test` too); then the test fails if
anything was recorded. SIMULATED_YEAR_SEED=n runs another year.
"""

import datetime
import logging
import os
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from itertools import groupby

import pytest
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from backorders.selectors import inventory_problems
from backorders.services import (
    inbound_announce,
    inbound_cancel,
    inbound_receive,
    inbound_revise,
    stock_receive,
)
from catalog.models import Inbound, Product
from catalog.policy import BackorderPolicy
from notifications.models import OutboxEmail
from orders.exceptions import OrderError, PurchaseRefused
from orders.models import QUEUE_ORDER, DelayNotice, Order, OrderLine, ShippingPreference
from orders.promises import line_etas_refresh
from orders.selectors import delay_notices_open
from orders.services import (
    delay_notice_answer,
    order_cancel_backorders,
    order_lines_move_to_front,
    order_place,
    order_ship,
)
from orders.tasks import promises_sweep
from tests.factories import product_create

pytestmark = pytest.mark.django_db

# Another seed is another year: SIMULATED_YEAR_SEED=n explores one.
THE_YEAR = 20300107
SEED = int(os.environ.get("SIMULATED_YEAR_SEED", THE_YEAR))
START = datetime.date(2030, 1, 7)
DAYS = 365
DAY = datetime.timedelta(days=1)
TICK = datetime.timedelta(seconds=20)  # between two actions
Outcome = DelayNotice.Outcome


@dataclass(frozen=True)
class Supply:
    """How a product sells and how its supplier behaves."""

    sku: str
    policy: str
    opening_stock: int
    demand: int  # relative share of order lines
    lead_days: tuple[int, int]  # how far ahead an announced inbound is expected
    announce_odds: float  # a day's chance of a new inbound while all demand is covered
    quantity: tuple[int, int]  # an inbound's units


SUPPLIES = [
    Supply("MUG", BackorderPolicy.ALLOW, 12, 35, (3, 25), 0.05, (4, 16)),
    Supply("LAMP", BackorderPolicy.ALLOW, 0, 30, (5, 35), 0.04, (4, 14)),
    Supply("STOVE", BackorderPolicy.ALLOW, 0, 15, (20, 60), 0.02, (3, 10)),  # slow supplier
    Supply("TENT", BackorderPolicy.ALLOW_INBOUND, 0, 20, (5, 30), 0.08, (4, 14)),
]


class Clock:
    """The simulated moment: set forward to a time of day, or one tick per action."""

    def __init__(self, day: datetime.date):
        self.now = self._moment(day, 0, 0)

    @staticmethod
    def _moment(day: datetime.date, hour: int, minute: int) -> datetime.datetime:
        naive = datetime.datetime.combine(day, datetime.time(hour, minute))
        return timezone.make_aware(naive, timezone.get_default_timezone())

    def at(self, day: datetime.date, hour: int, minute: int = 0) -> None:
        self.now = max(self.now + TICK, self._moment(day, hour, minute))

    def tick(self) -> None:
        self.now += TICK

    @property
    def today(self) -> datetime.date:
        return timezone.localtime(self.now).date()


class Year:
    def __init__(self, *, rng: random.Random, clock: Clock, capture, caplog):
        self.rng, self.clock, self.capture, self.caplog = rng, clock, capture, caplog
        self.stats: Counter = Counter()
        self.products: list[tuple[Product, Supply]] = []
        self.plans: dict[int, tuple[datetime.date, str | None]] = {}  # notice → answer
        self.email_pk = 0
        self.logged = 0
        self.violations: dict[str, list[str]] = defaultdict(list)
        self.po = 0
        self.log: dict[int, list[str]] = defaultdict(list)  # product id → what happened
        self.handling = datetime.timedelta(days=settings.HANDLING_DAYS)
        self.default_window = datetime.timedelta(days=settings.DEFAULT_SHIP_WITHIN_DAYS)
        self.lead = datetime.timedelta(days=settings.DELAY_NOTICE_LEAD_DAYS)

    @property
    def today(self) -> datetime.date:
        return self.clock.today

    def note(self, product_id: int, text: str) -> None:
        self.log[product_id].append(f"{self.clock.now:%Y-%m-%d %H:%M:%S} {text}")

    # -- running one action ------------------------------------------------------------

    def act(self, kind: str, function: Callable, *args, expect=(), **kwargs):
        """One request, task or command: its transaction, then its after-commit work
        (tasks, eager). Then: no line was told twice by it (one change batch)."""
        self.clock.tick()
        with self.capture(execute=True):
            try:
                result = function(*args, **kwargs)
            except expect as error:
                result = error
        self.emails_check(kind)
        return result

    def emails_check(self, kind: str) -> None:
        rows = list(
            OutboxEmail.objects.filter(pk__gt=self.email_pk)
            .order_by("pk")
            .values_list("pk", "key", "event", "context")
        )
        if not rows:
            return
        self.email_pk = rows[-1][0]
        notice_ids = [int(key.split(":")[1]) for _, key, _, _ in rows if key.startswith("delay-")]
        notice_lines = dict(
            DelayNotice.objects.filter(pk__in=notice_ids).values_list("pk", "line_id")
        )
        told: dict[int, list[str]] = defaultdict(list)
        for _, key, event, context in rows:
            self.stats[f"emails: {event}"] += 1
            if key.startswith("eta-changed:"):
                line_id = int(key.split(":")[1])
                if context["eta"] is None:
                    self.violation("3: a new-date email without a date", f"{kind}: {key}", line_id)
                if context["eta"] == context["was"] and not context["delay_over"]:
                    self.violation(
                        "4: a new-date email repeats the date the customer had",
                        f"{kind}: {key}",
                        line_id,
                    )
            elif key.startswith("delay-notice:"):
                line_id = notice_lines[int(key.split(":")[1])]
            else:
                continue
            told[line_id].append(key)
        for line_id, keys in told.items():
            if len(keys) > 1:
                self.violation(
                    "4: a line told more than once in one change batch",
                    f"{kind}: line {line_id} got {keys}",
                    line_id,
                )

    # -- the world -----------------------------------------------------------------------

    def open_shop(self) -> None:
        for supply in SUPPLIES:
            product = product_create(
                sku=supply.sku,
                policy=supply.policy,
                on_hand=supply.opening_stock,
                lead_time_days=sum(supply.lead_days) // 2,
            )
            self.products.append((product, supply))

    def run_day(self) -> None:
        """After midnight the sweep (the hourly beat's first run of the day), then what
        must hold; by day the shop's and the customers' actions, shipping at five."""
        today = self.today
        self.clock.at(today, 0, 30)
        self.morning(today)
        self.clock.at(today, 9)
        actions = self.day_plan(today)
        self.rng.shuffle(actions)
        for action in actions:
            action()
        self.clock.at(today, 17)
        self.ship()
        self.clock.at(today + DAY, 0)

    def morning(self, today: datetime.date) -> None:
        self.act("sweep", promises_sweep)
        self.clock.at(today, 0, 45)
        self.check(today)
        self.answers_plan(today)

    def day_plan(self, today: datetime.date) -> list[Callable[[], None]]:
        rng = self.rng
        actions: list[Callable[[], None]] = []
        orders = rng.choices(range(5), weights=[25, 35, 22, 12, 6])[0]
        actions += [self.place] * orders
        counters = Product.objects.in_bulk([p.pk for p, _ in self.products])
        inbounds = defaultdict(list)
        for inbound in Inbound.objects.open().order_by("pk"):
            inbounds[inbound.product_id].append(inbound)
        for product, supply in self.products:
            actions += self.supplier_plan(counters[product.pk], supply, inbounds[product.pk], today)
        actions += [
            partial(self.answer, pk, answer)
            for pk, (day, answer) in sorted(self.plans.items())
            if day == today and answer
        ]
        if rng.random() < 0.25:
            actions.append(self.customer_cancel)
        if rng.random() < 0.03:
            actions.append(self.reprioritize)
        return actions

    def supplier_plan(
        self, product: Product, supply: Supply, inbounds: list[Inbound], today: datetime.date
    ) -> list:
        """The supplier's and the warehouse's day for one product: perhaps a new
        inbound; for each open one, what happens to it today."""
        rng = self.rng
        confirmed = sum(i.quantity for i in inbounds if i.expected_date >= today)
        uncovered = product.backordered - product.available - confirmed
        actions = []
        odds = supply.announce_odds + (0.2 if uncovered > 0 else 0)
        if rng.random() < odds:
            quantity = rng.randint(*supply.quantity) + max(uncovered, 0) // 2
            ahead = rng.randint(*supply.lead_days)
            actions.append(partial(self.announce, product, quantity, today + ahead * DAY))
        for inbound in inbounds:
            r = rng.random()
            q, date = inbound.quantity, inbound.expected_date
            if date == today:  # due today
                if r < 0.55:
                    actions.append(partial(self.receive, inbound, self.delivered(q), "on time"))
                elif r < 0.8:
                    later = today + self.slip()
                    actions.append(partial(self.revise, inbound, "slipped", expected_date=later))
            elif date < today:  # overdue: no ETA rests on it until staff act
                if r < 0.35:
                    actions.append(partial(self.receive, inbound, self.delivered(q), "late"))
                elif r < 0.65:
                    later = today + rng.randint(1, 21) * DAY
                    actions.append(partial(self.revise, inbound, "re-dated", expected_date=later))
                elif r < 0.75:
                    actions.append(partial(self.cancel, inbound))
            elif r < 0.02:
                later = date + self.slip()
                actions.append(partial(self.revise, inbound, "slipped", expected_date=later))
            elif r < 0.04:
                sooner = max(today, date - rng.randint(1, 10) * DAY)
                actions.append(partial(self.revise, inbound, "came forward", expected_date=sooner))
            elif r < 0.06 and q > 1:
                actions.append(
                    partial(self.revise, inbound, "shrunk", quantity=rng.randint(1, q - 1))
                )
            elif r < 0.08:
                actions.append(
                    partial(self.revise, inbound, "grew", quantity=q + rng.randint(1, 8))
                )
            elif r < 0.09:
                actions.append(partial(self.cancel, inbound))
            elif r < 0.11:
                actions.append(partial(self.receive, inbound, self.delivered(q), "early"))
        if rng.random() < 0.02:  # stock nobody announced (a return, a found carton)
            actions.append(partial(self.stock, product, rng.randint(1, 6)))
        return actions

    def slip(self) -> datetime.timedelta:
        """How late a supplier says a shipment will be: often a day or three, else weeks."""
        if self.rng.random() < 0.5:
            return self.rng.randint(1, 3) * DAY
        return self.rng.randint(4, 25) * DAY

    def delivered(self, quantity: int) -> int:
        r = self.rng.random()
        if r < 0.15 and quantity > 1:
            return self.rng.randint(1, quantity - 1)  # short
        if r < 0.25:
            return quantity + self.rng.randint(1, 3)  # over
        return quantity

    # -- staff -----------------------------------------------------------------------------

    def announce(self, product: Product, quantity: int, expected: datetime.date) -> None:
        self.po += 1
        inbound = self.act(
            "announce",
            inbound_announce,
            product=product,
            quantity=quantity,
            expected_date=expected,
            reference=f"PO-{self.po}",
        )
        self.stats["inbounds announced"] += 1
        self.note(
            product.pk, f"announce inbound {inbound.pk} PO-{self.po}: {quantity} on {expected}"
        )

    def revise(self, inbound: Inbound, how: str, **change) -> None:
        self.act("revise", inbound_revise, inbound=inbound, **change)
        self.stats[f"inbounds {how}"] += 1
        self.note(inbound.product_id, f"revise inbound {inbound.pk} ({how}): {change}")

    def cancel(self, inbound: Inbound) -> None:
        self.act("inbound cancel", inbound_cancel, inbound=inbound)
        self.stats["inbounds cancelled"] += 1
        self.note(inbound.product_id, f"cancel inbound {inbound.pk}")

    def receive(self, inbound: Inbound, quantity: int, when: str) -> None:
        self.act("receive", inbound_receive, inbound=inbound, quantity=quantity)
        self.stats[f"inbounds received {when}"] += 1
        if quantity != inbound.quantity:
            self.stats[
                "inbounds received short"
                if quantity < inbound.quantity
                else "inbounds received over"
            ] += 1
        self.note(
            inbound.product_id,
            f"receive inbound {inbound.pk} ({when}, expected {inbound.expected_date}): "
            f"{quantity} of {inbound.quantity}",
        )

    def stock(self, product: Product, quantity: int) -> None:
        self.act("stock", stock_receive, product=product, quantity=quantity, reference="found")
        self.stats["unannounced receipts"] += 1
        self.note(product.pk, f"receive {quantity} unannounced")

    def ship(self) -> None:
        ready = (
            Order.objects.filter(lines__allocated__gt=0)
            .exclude(
                shipping_preference=ShippingPreference.SHIP_ALL_TOGETHER,
                lines__backordered__gt=0,
            )
            .distinct()
            .order_by("pk")
        )
        for order in ready:
            if self.rng.random() < 0.8:
                shipped = self.act("ship", order_ship, order=order, expect=(OrderError,))
                if not isinstance(shipped, OrderError):
                    self.stats["shipments"] += 1

    def reprioritize(self) -> None:
        line = self.waiting_line()
        if line is None:
            return
        self.act("move to front", order_lines_move_to_front, line_ids=[line.pk])
        self.stats["staff moved a back-order to the front"] += 1
        self.note(line.product_id, f"line {line.pk} moved to the front")

    # -- customers ---------------------------------------------------------------------------

    def place(self) -> None:
        rng, today = self.rng, self.today
        self.stats["checkouts"] += 1
        n = self.stats["checkouts"]
        wanted = rng.choices([1, 2], weights=[75, 25])[0]
        chosen: list[Product] = []
        while len(chosen) < wanted:
            product = rng.choices(
                [p for p, _ in self.products], weights=[s.demand for _, s in self.products]
            )[0]
            if product not in chosen:
                chosen.append(product)
        quantities = {p.pk: rng.choices([1, 2, 3], weights=[60, 28, 12])[0] for p in chosen}
        preference = (
            ShippingPreference.SHIP_ALL_TOGETHER
            if rng.random() < 0.2
            else ShippingPreference.SHIP_READY_NOW
        )
        order = self.act(
            "order",
            order_place,
            quantities=quantities,
            email=f"customer{n}@example.com",
            name=f"Customer {n}",
            shipping_address=f"{n} Queue Street",
            shipping_preference=preference,
            backorder_accepted=True,
            expect=(PurchaseRefused,),
        )
        if isinstance(order, PurchaseRefused):
            self.stats["checkouts refused (no confirmed supply left: allow_inbound)"] += 1
            return
        self.stats["orders"] += 1
        confirmed = self.confirmed_dates()
        for line in order.lines.select_related("product"):
            self.stats["order lines"] += 1
            if not line.queued_units:
                continue
            self.stats["back-ordered lines"] += 1
            self.stats["back-ordered units"] += line.queued_units
            self.note(
                line.product_id,
                f"order {order.number} line {line.pk}: {line.quantity} ordered, "
                f"{line.queued_units} waiting, eta {line.eta}, promised by {line.promised_by}",
            )
            # The promise made at checkout: a confirmed inbound's date plus handling, or
            # the default window when no inbound covers the units.
            backed = {today, *confirmed.get(line.product_id, ())}
            if line.promised_by is None or not (
                line.promised_by == today + self.default_window
                or line.promised_by - self.handling in backed
            ):
                self.violation("3: a promise at checkout rests on nothing", "", line.pk)
            if line.product.backorder_policy == BackorderPolicy.ALLOW_INBOUND and not line.eta:
                self.violation("3: allow_inbound sold units no inbound covers", "", line.pk)

    def answers_plan(self, today: datetime.date) -> None:
        """Each new open notice gets its customer's behaviour: wait, cancel (on some
        day, perhaps after the deadline) or silence."""
        new = DelayNotice.objects.filter(outcome=Outcome.OPEN).exclude(pk__in=list(self.plans))
        for pk in new.order_by("pk").values_list("pk", flat=True):
            r = self.rng.random()
            answer = "wait" if r < 0.35 else "cancel" if r < 0.5 else None
            self.plans[pk] = (today + self.rng.randint(0, 12) * DAY, answer)

    def answer(self, notice_id: int, answer: str) -> None:
        """The customer answers from the order page, or from the email's link once the
        page no longer asks (too late, or settled otherwise)."""
        notice = DelayNotice.objects.select_related("line__order").get(pk=notice_id)
        if notice.outcome in (Outcome.SUPERSEDED, Outcome.RESOLVED):
            return  # the customer reads the newer email instead
        shown = notice in delay_notices_open(order=notice.line.order)
        if notice.is_open and not shown:
            return  # the units came meanwhile: the page asks nothing
        result = self.act(
            "answer",
            delay_notice_answer,
            order=notice.line.order,
            notice_id=notice_id,
            answer=answer,
            expect=(OrderError,),
        )
        self.note(notice.line.product_id, f"line {notice.line_id} answers {answer}: {result}")
        if isinstance(result, OrderError) and shown:
            self.violation(
                "2: a notice on the order page refused an answer", str(result), notice.line_id
            )
        elif notice.is_open:
            self.stats[f"answers: {answer}"] += 1
        else:
            self.stats["answers after the delay was settled (refused or no-op)"] += 1

    def customer_cancel(self) -> None:
        line = self.waiting_line()
        if line is None:
            return
        self.act(
            "customer cancel",
            order_cancel_backorders,
            order=line.order,
            line_ids=[line.pk],
            reason="",
        )
        self.stats["customer cancelled a back-order unprompted"] += 1
        self.note(line.product_id, f"line {line.pk} cancelled by the customer")

    def waiting_line(self) -> OrderLine | None:
        waiting = list(OrderLine.objects.filter(backordered__gt=0).order_by("pk"))
        return self.rng.choice(waiting) if waiting else None

    # -- what must hold ------------------------------------------------------------------------

    def confirmed_dates(self) -> dict[int, set[datetime.date]]:
        return {pid: {date for _, date in supply} for pid, supply in self.confirmed().items()}

    def confirmed(self) -> dict[int, list[tuple[int, datetime.date]]]:
        """Each product's confirmed inbounds as (units, date), in the order they come."""
        supply = defaultdict(list)
        for product_id, units, date in Inbound.objects.confirmed().values_list(
            "product_id", "quantity", "expected_date"
        ):
            supply[product_id].append((units, date))
        return supply

    def walk(
        self, today: datetime.date, queue: list[OrderLine], supply: dict[int, list]
    ) -> dict[int, datetime.date | None]:
        """The ETA each waiting line should have, walked afresh and independently of
        the engine: each product's queue in order against its available units (today)
        and then its confirmed inbounds in date order; None beyond them."""
        available = dict(
            Product.objects.annotate(free=F("on_hand") - F("allocated")).values_list("pk", "free")
        )
        etas = {}
        for product_id, lines in groupby(queue, key=lambda line: line.product_id):
            inbounds = iter(supply[product_id])
            covered, date, needed = max(available[product_id], 0), today, 0
            for line in lines:
                needed += line.backordered
                while covered < needed and (inbound := next(inbounds, None)) is not None:
                    covered, date = covered + inbound[0], inbound[1]
                etas[line.pk] = date if covered >= needed else None
        return etas

    def check(self, today: datetime.date) -> None:
        supply = self.confirmed()
        confirmed = {pid: {date for _, date in inbounds} for pid, inbounds in supply.items()}
        waiting = list(
            OrderLine.objects.filter(backordered__gt=0).order_by("product_id", *QUEUE_ORDER)
        )
        walked = self.walk(today, waiting, supply)
        notices = defaultdict(list)
        for notice in DelayNotice.objects.filter(line__backordered__gt=0).order_by("pk"):
            notices[notice.line_id].append(notice)
        for line in waiting:
            mine = notices[line.pk]
            # 3. Every date shown is backed, and is the one the customer was told.
            if line.promised_by is None:
                self.violation("3: a waiting line without a promise", "", line.pk)
                continue
            if line.eta not in {None, today, *confirmed.get(line.product_id, ())}:
                self.violation("3: an ETA no confirmed inbound backs", "", line.pk)
            if line.eta != walked[line.pk]:
                self.violation(
                    "3: a stored ETA is not what a fresh walk of the queue gives",
                    f"walk gives {walked[line.pk]}",
                    line.pk,
                )
            if line.eta_told != line.eta:
                self.violation("3: the customer was told another date than the ETA", "", line.pk)
            # 1. Waiting past the promise only with a notice sent by that promise.
            if line.promised_by < today and not any(
                n.promised_by == line.promised_by
                and timezone.localdate(n.created_at) <= line.promised_by
                for n in mine
            ):
                self.violation("1: waits past its promise, no notice sent by then", "", line.pk)
            # A line that cannot ship by its promise (arrival plus handling), or that has
            # no date with the promise near, has an open notice; one that can has none.
            late = (
                line.eta + self.handling > line.promised_by
                if line.eta is not None
                else line.promised_by <= today + self.lead
            )
            has_open = any(n.is_open for n in mine)
            if late and not has_open:
                self.violation("1: cannot keep its promise, no open notice", "", line.pk)
            if has_open and line.eta is not None and not late:
                self.violation("1: an open notice, though the promise holds", "", line.pk)
        # 2. No open notice past its deadline; a cancelled delay leaves nothing waiting;
        # the sweep has closed the notices of lines whose units all came.
        for notice in DelayNotice.objects.filter(outcome=Outcome.OPEN, answer_by__lt=today):
            self.violation("2: a notice still open past its deadline", "", notice.line_id)
        for notice in DelayNotice.objects.filter(outcome=Outcome.OPEN, line__backordered=0):
            self.violation("2: a notice open after the sweep, nothing waits", "", notice.line_id)
        settled = DelayNotice.objects.filter(
            outcome__in=[Outcome.AUTO_CANCELLED, Outcome.CANCEL], line__backordered__gt=0
        )
        for notice in settled:
            self.violation(f"2: notice {notice.outcome}, units still wait", "", notice.line_id)
        for record in self.caplog.records[self.logged :]:
            if record.levelno >= logging.ERROR:
                self.violation("errors logged", record.getMessage())
        self.logged = len(self.caplog.records)
        if (today - START).days % 7 == 6:
            self.weekly()

    def weekly(self) -> None:
        for problem in inventory_problems():
            self.violation("inventory_problems()", problem)
        # The engine's own walk, run again right after the sweep, changes nothing (the
        # independent walk above checks the stored ETAs every day).
        for product, _ in self.products:
            changed = self.act("fresh walk", line_etas_refresh, product_id=product.pk)
            if changed:
                self.violation(
                    "3: line_etas_refresh right after the sweep changed stored ETAs",
                    f"{product.sku}: {changed} changed\n" + "\n".join(self.log[product.pk][-40:]),
                )

    def year_end_check(self) -> None:
        self.weekly()
        notices = list(DelayNotice.objects.select_related("line").order_by("line_id", "pk"))
        keys = set(OutboxEmail.objects.values_list("key", flat=True))
        for notice in notices:
            if f"delay-notice:{notice.pk}" not in keys:
                self.violation("4: a delay notice never emailed", str(notice.pk), notice.line_id)
        for before, after in zip(notices, notices[1:], strict=False):
            if (
                before.line_id == after.line_id
                and before.outcome == Outcome.SUPERSEDED
                and after.revised_date == before.revised_date
            ):
                self.violation(
                    "4: a notice repeats the one it replaced",
                    f"{before.pk} → {after.pk}",
                    after.line_id,
                )
        cancelled_keys = [k for k in keys if k.startswith("backorder-cancelled:")]
        for notice in notices:
            if notice.outcome == Outcome.AUTO_CANCELLED:
                line = notice.line
                # Keys name each line with the units cancelled from it so far.
                told = any(
                    k.startswith(f"backorder-cancelled:{line.order_id}:")
                    and f"{line.pk}.{line.cancelled}" in k.split(":")[2].split("-")
                    for k in cancelled_keys
                )
                if not (told and line.cancelled):
                    self.violation("2: auto-cancelled but not cancelled or not told", "", line.pk)

    def violation(self, invariant: str, detail: str, line_id: int | None = None) -> None:
        """Record a broken invariant (the first few with the line's story) and carry on,
        so that one run names every kind of failure."""
        found = self.violations[invariant]
        found.append(f"{self.clock.now:%Y-%m-%d %H:%M} {detail}".rstrip())
        if len(found) <= 2 and line_id is not None:
            found[-1] += f" (line {line_id})\n{self.story(line_id)}"

    def story(self, line_id: int) -> str:
        """A line's fields, notices and its product's recent history, for a failure."""
        line = OrderLine.objects.select_related("product").get(pk=line_id)
        fields = ", ".join(
            f"{name}={getattr(line, name)}"
            for name in (
                "quantity",
                "allocated",
                "backordered",
                "shipped",
                "cancelled",
                "priority",
                "eta",
                "eta_told",
                "promised_by",
                "eta_changed_at",
            )
        )
        notices = "\n".join(
            f"    notice {n.pk}: created {n.created_at:%Y-%m-%d %H:%M}, promised_by "
            f"{n.promised_by}, revised {n.revised_date}, needs_consent {n.needs_consent}, "
            f"answer_by {n.answer_by}, outcome {n.outcome!r} by {n.decided_by!r}"
            for n in line.delay_notices.order_by("pk")
        )
        inbounds = "\n".join(
            f"    inbound {i.pk} {i.reference}: {i.quantity} on {i.expected_date}, "
            f"received {i.received_at}, cancelled {i.cancelled_at}"
            for i in Inbound.objects.filter(product_id=line.product_id).order_by("pk")
        )
        history = "\n".join(f"    {entry}" for entry in self.log[line.product_id][-40:])
        return (
            f"  line {line.pk} of order {line.order.number} ({line.product.sku}): {fields}\n"
            f"  notices:\n{notices}\n  inbounds:\n{inbounds}\n  recent history:\n{history}"
        )

    def totals(self) -> dict[str, int]:
        outcomes = Counter(DelayNotice.objects.values_list("outcome", flat=True))
        notices = DelayNotice.objects
        facts = {
            "orders": self.stats["orders"],
            "order lines": self.stats["order lines"],
            "back-ordered lines": self.stats["back-ordered lines"],
            "back-ordered units": self.stats["back-ordered units"],
            "lines delayed (one notice or more)": notices.values("line").distinct().count(),
            "delay notices sent": notices.count(),
            "notices needing consent": notices.filter(needs_consent=True).count(),
            "notices where silence is consent": notices.filter(needs_consent=False).count(),
            "consents by answer (wait)": outcomes[Outcome.WAIT],
            "consents by silence": outcomes[Outcome.SILENCE],
            "cancellations from a notice by the customer": notices.filter(
                outcome=Outcome.CANCEL, decided_by="customer"
            ).count(),
            "automatic cancellations (no answer)": outcomes[Outcome.AUTO_CANCELLED],
            "notices withdrawn (back on time or served)": outcomes[Outcome.RESOLVED],
            "notices replaced by a later one": outcomes[Outcome.SUPERSEDED],
            "notices still open at year end": outcomes[Outcome.OPEN],
            "new-date emails": self.stats["emails: eta_changed"],
            "of which: delay over, back on time": OutboxEmail.objects.filter(
                event="eta_changed", context__delay_over=True
            ).count(),
            "lines still waiting at year end": OrderLine.objects.filter(backordered__gt=0).count(),
            "emails written": OutboxEmail.objects.count(),
        }
        facts.update(
            (name, count)
            for name, count in sorted(self.stats.items())
            if not name.startswith("emails:") and name not in facts
        )
        return facts


def test_a_simulated_year_keeps_every_promise_honest(
    monkeypatch, django_capture_on_commit_callbacks, caplog, capsys
):
    started = time.perf_counter()
    clock = Clock(START)
    real_localdate = timezone.localdate
    monkeypatch.setattr(timezone, "now", lambda: clock.now)
    monkeypatch.setattr(
        timezone,
        "localdate",
        lambda value=None, timezone=None: real_localdate(
            clock.now if value is None else value, timezone
        ),
    )
    caplog.set_level(logging.WARNING)
    year = Year(
        rng=random.Random(SEED),
        clock=clock,
        capture=django_capture_on_commit_callbacks,
        caplog=caplog,
    )
    year.open_shop()
    for _ in range(DAYS):
        year.run_day()
    year.morning(year.today)  # the day after: the year's last actions checked too
    year.year_end_check()
    totals = year.totals()
    elapsed = time.perf_counter() - started
    with capsys.disabled():
        print(f"\nA simulated year from {START} ({DAYS} days, seed {SEED}), {elapsed:.1f} s:")
        for name, count in totals.items():
            print(f"  {name:.<58} {count:>6}")
    broken = "\n\n".join(
        f"invariant {invariant}: {len(found)} time(s); first:\n" + "\n".join(found[:2])
        for invariant, found in year.violations.items()
    )
    assert not year.violations, f"broken over the year:\n{broken}"
    # The year exercised what it is meant to.
    assert totals["orders"] > 300 and totals["delay notices sent"] > 20
    if SEED == THE_YEAR:
        assert totals["automatic cancellations (no answer)"] and totals["consents by silence"]
        assert totals["consents by answer (wait)"] and totals["answers: cancel"]
