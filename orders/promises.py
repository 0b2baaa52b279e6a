"""The promise made at checkout and the estimate kept since: services for the FTC
"30-day rule" (docs/decisions/0012-promises-and-delay-notices.md).

Whatever changes a product's queue or inbounds publishes `line_etas_refresh` for it
after commit: one pass walks the queue in order against the confirmed inbounds in date
order and stores each waiting line's ETA. Once the changes have settled
(PROMISE_CHANGE_BATCH_SECONDS), `promises_keep` tells exactly the customers whose date
changed: a new expected date while it still keeps the promise, a delay notice when it
does not. Customers answer a notice on their order page; the hourly sweep re-dates
what the calendar moved and settles the notices whose deadline passed (the answers and
the settling are order writes, in orders.services).
"""

import dataclasses
import datetime
import functools
from collections.abc import Iterable, Sequence

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import get_language

from catalog.models import Inbound
from catalog.selectors import promise_date, supply_dates
from catalog.services import products_lock
from core.broker import enqueue_on_commit
from notifications.services import Email, emails_queue
from orders.models import DelayNotice, Order, OrderLine
from orders.selectors import order_email_greeting

# Silence may count as consent only to a first, definite delay of at most this long
# past the original promise (16 CFR 435.2(b)(1)); any other needs an express yes.
SILENT_CONSENT_MAX_DELAY = datetime.timedelta(days=30)
# Outcomes by which a customer accepted a delay: the revised date became the promise.
ACCEPTED = (DelayNotice.Outcome.WAIT, DelayNotice.Outcome.SILENCE)
# What a customer may answer to a delay notice.
ANSWERS = (DelayNotice.Outcome.WAIT, DelayNotice.Outcome.CANCEL)
UPDATE_CHUNK = 5000
# Lines promises_keep looks at per transaction: a few tenths of a second of the
# product's lock when every one of them is told.
KEEP_BATCH = 500


def etas_refresh_on_commit(*, product_ids: Iterable[int]) -> None:
    """After this transaction commits, re-date these products' waiting back-orders."""
    from orders.tasks import line_etas_refresh_task  # tasks import this module

    for product_id in sorted(set(product_ids)):
        enqueue_on_commit(line_etas_refresh_task, product_id)


def line_etas_refresh(*, product_id: int) -> int:
    """Store the current ETA of each of the product's waiting back-orders, in one pass;
    returns how many changed. When some did, the customers are told a batch window
    later (promises_keep)."""
    from orders.tasks import promises_keep_task  # tasks import this module

    now = timezone.now()
    with transaction.atomic():
        product = products_lock(product_ids=[product_id]).get(product_id)
        if product is None:
            return 0
        queue = list(
            OrderLine.objects.backorder_queue(product_id).values_list("pk", "backordered", "eta")
        )
        inbounds = Inbound.objects.confirmed().filter(product_id=product_id)
        etas = supply_dates(
            available=product.available,
            inbounds=inbounds.values_list("quantity", "expected_date"),
            needs=_running_totals(units for _, units, _ in queue),
        )
        # The queue's ETAs never fall as it is walked, so at most one group per inbound.
        moved: dict[datetime.date | None, list[int]] = {}
        for (pk, _, eta), new_eta in zip(queue, etas, strict=True):
            if new_eta != eta:
                moved.setdefault(new_eta, []).append(pk)
        for new_eta, pks in moved.items():
            for start in range(0, len(pks), UPDATE_CHUNK):
                OrderLine.objects.filter(pk__in=pks[start : start + UPDATE_CHUNK]).update(
                    eta=new_eta, eta_changed_at=now
                )
        if moved:
            enqueue_on_commit(
                # A few seconds' margin for the clocks of the two workers.
                promises_keep_task,
                product_id,
                countdown=settings.PROMISE_CHANGE_BATCH_SECONDS + 5,
            )
    return sum(len(pks) for pks in moved.values())


def _running_totals(units: Iterable[int]):
    total = 0
    for n in units:
        total += n
        yield total


@dataclasses.dataclass(frozen=True)
class _LineFacts:
    """What promises_keep reads of a waiting line."""

    pk: int
    order_id: int
    backordered: int
    eta: datetime.date | None
    eta_told: datetime.date | None
    eta_changed_at: datetime.datetime | None
    promised_by: datetime.date

    @property
    def ships_by(self) -> datetime.date | None:
        """What the store could promise on the current ETA; None without one."""
        return promise_date(self.eta) if self.eta is not None else None

    def is_late(self, today: datetime.date, *, noticed: bool) -> bool:
        return promise_broken(
            eta=self.eta,
            eta_told=self.eta_told,
            promised_by=self.promised_by,
            today=today,
            noticed=noticed,
        )


def promise_broken(
    *,
    eta: datetime.date | None,
    eta_told: datetime.date | None,
    promised_by: datetime.date,
    today: datetime.date,
    noticed: bool,
) -> bool:
    """The promise cannot be kept on what the store knows now: the units arrive too
    late to ship by it (arrival plus the handling days); or no date is known and the
    customer was told one, or was sent a notice for this delay (`noticed`), or the
    promise is near. Only a date that ships in time ends a delay."""
    if eta is not None:
        return promise_date(eta) > promised_by
    lead = datetime.timedelta(days=settings.DELAY_NOTICE_LEAD_DAYS)
    return noticed or eta_told is not None or promised_by <= today + lead


def promises_keep(*, product_id: int) -> int:
    """Tell the customers of the product's waiting back-orders what changed, once the
    changes have settled: "new expected date" to those whose ETA moved and still keeps
    the promise; a delay notice to those whose promise it breaks (revised date or none,
    wait or cancel); a notice made moot by better news is withdrawn with that news.
    One email per customer per run; running it twice tells nobody twice. Returns the
    customers told. Batches of KEEP_BATCH lines, one transaction each, so a slip that
    moves a whole queue holds the product's lock for a moment at a time."""
    queue = list(OrderLine.objects.backorder_queue(product_id).values_list("pk", flat=True))
    return sum(
        _promises_keep_batch(product_id, queue[start : start + KEEP_BATCH])
        for start in range(0, len(queue), KEEP_BATCH)
    )


def _promises_keep_batch(product_id: int, line_ids: list[int]) -> int:
    today = timezone.localdate()
    settled = timezone.now() - datetime.timedelta(seconds=settings.PROMISE_CHANGE_BATCH_SECONDS)
    with transaction.atomic():
        product = products_lock(product_ids=[product_id]).get(product_id)
        if product is None:
            return 0
        lines = [
            _LineFacts(*row)
            for row in OrderLine.objects.filter(pk__in=line_ids, backordered__gt=0)
            .order_by("pk")
            .values_list(*(field.name for field in dataclasses.fields(_LineFacts)))
        ]
        notices = DelayNotice.objects.filter(line__in=line_ids)
        open_notices = {notice.line_id: notice for notice in notices.filter(outcome="")}
        # A delay is a second one once the customer has accepted one (by answer or by
        # silence): the promise has been moved before.
        renegotiated = set(notices.filter(outcome__in=ACCEPTED).values_list("line_id", flat=True))
        news, delays = [], []  # (line, the notice withdrawn or sent)
        resolved, superseded = [], []
        for line in lines:
            if line.eta_changed_at is not None and line.eta_changed_at > settled:
                continue  # still changing: the next run tells the settled date
            notice = open_notices.get(line.pk)
            if not line.is_late(today, noticed=notice is not None):
                if notice is not None:
                    resolved.append(notice.pk)
                if notice is not None or line.eta != line.eta_told:
                    news.append((line, notice))
            elif notice is None or (
                line.eta != line.eta_told and line.ships_by != notice.revised_date
            ):
                if notice is not None:
                    superseded.append(notice.pk)
                first = line.pk not in renegotiated
                delays.append((line, _notice_new(line, today, first=first, replacing=notice)))
        notices_close(resolved, DelayNotice.Outcome.RESOLVED)
        notices_close(superseded, DelayNotice.Outcome.SUPERSEDED)
        created = DelayNotice.objects.bulk_create([notice for _, notice in delays])
        delays = [(line, notice) for (line, _), notice in zip(delays, created, strict=True)]
        # The product is locked, so the ETA read above is the one being told.
        told = [line.pk for line, _ in news + delays]
        OrderLine.objects.filter(pk__in=told).update(eta_told=F("eta"))
        emails_queue(emails=_promise_emails(product_name=product.name, news=news, delays=delays))
    return len(told)


def _notice_new(
    line: _LineFacts, today: datetime.date, *, first: bool, replacing: DelayNotice | None
) -> DelayNotice:
    revised = line.ships_by
    silence_is_consent = (
        first and revised is not None and revised <= line.promised_by + SILENT_CONSENT_MAX_DELAY
    )
    return DelayNotice(
        line_id=line.pk,
        promised_by=line.promised_by,
        revised_date=revised,
        units=line.backordered,
        needs_consent=not silence_is_consent,
        # Before the current promise passes; a later notice keeps the first's deadline.
        answer_by=max(replacing.answer_by if replacing else line.promised_by, today),
    )


def notices_close(
    notice_ids: Sequence[int], outcome: str, by: str = DelayNotice.DecidedBy.STORE
) -> None:
    """Settle open notices, under their product's lock."""
    if notice_ids:
        DelayNotice.objects.filter(pk__in=notice_ids, outcome=DelayNotice.Outcome.OPEN).update(
            outcome=outcome, decided_at=timezone.now(), decided_by=by
        )


def _promise_emails(
    *,
    product_name: str,
    news: Sequence[tuple[_LineFacts, DelayNotice | None]],
    delays: Sequence[tuple[_LineFacts, DelayNotice]],
) -> list[Email]:
    """One email per (line, notice): the order's facts and that line's news."""
    order_ids = {line.order_id for line, _ in (*news, *delays)}
    orders = Order.objects.only("pk", "name", "email", "token").in_bulk(order_ids)
    emails = []
    for line, withdrawn in news:
        order = orders[line.order_id]
        emails.append(
            Email(
                # The change is named by when it happened: a rerun writes nothing.
                key=f"eta-changed:{line.pk}:{line.eta}:{_stamp(line.eta_changed_at)}",
                to=order.email,
                event="eta_changed",
                context={
                    **order_email_greeting(order=order),
                    "product_name": product_name,
                    "units": line.backordered,
                    "eta": date_told(line.eta),
                    "was": date_told(line.eta_told),
                    "promised_by": date_told(line.promised_by),
                    "delay_over": withdrawn is not None,
                },
            )
        )
    for line, notice in delays:
        order = orders[line.order_id]
        emails.append(
            Email(
                key=f"delay-notice:{notice.pk}",
                to=order.email,
                event="delay_notice",
                context={
                    **order_email_greeting(order=order),
                    **notice_facts(notice, product_name=product_name, units=notice.units),
                },
            )
        )
    return emails


def notice_facts(notice: DelayNotice, *, product_name: str, units: int) -> dict:
    """A delay notice as plain data for its email and the order page (`units`: those
    waiting now, which allocation may have lowered since it was sent)."""
    return {
        "product_name": product_name,
        "units": units,
        "promised_by": date_told(notice.promised_by),
        "revised_date": date_told(notice.revised_date),
        "needs_consent": notice.needs_consent,
        "answer_by": date_told(notice.answer_by),
    }


def _stamp(moment: datetime.datetime | None) -> str:
    return moment.strftime("%Y%m%dT%H%M%S.%f") if moment else "-"


def date_told(value: datetime.date | None) -> str | None:
    """A date as customers read it ("11 December 2026")."""
    return _date_in(value, get_language()) if value else None


@functools.lru_cache(maxsize=1024)
def _date_in(value: datetime.date, language: str | None) -> str:
    # Cached: a batch tells thousands of customers of a few dates, and formatting
    # through the locale machinery was a fifth of its time.
    return date_format(value, "j F Y")
