"""What each order is charged and refunded (docs/decisions/0013-charge-what-ships.md).

The units in stock at checkout are charged then, with the shopper present; the card is
saved for the rest. Back-ordered units are charged off-session when they are allocated,
before they can ship; if that charge fails the customer may pay on the order page with
another card until `payment_due_by`, after which the units go to the next customer in
the queue. A return refunds what the units cost. Waiting units are never charged, so
cancelling them refunds nothing: only what was paid is ever refunded.

Every provider call is made outside the stock transactions, for a payment row claimed
first under its event's unique key; its effect on the lines (`paid`, `returned`) is
applied in the transaction that records its outcome."""

import datetime
import logging
import time
from collections.abc import Mapping
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from catalog.services import stock_release
from core.broker import enqueue_on_commit
from notifications.services import email_queue
from orders.exceptions import NothingToReturn, OrderError
from orders.models import Order, OrderLine
from orders.promises import date_told, etas_refresh_on_commit
from orders.selectors import order_by_checkout_key, order_email_facts, order_email_greeting
from orders.services import cancellation_tell, order_lines_lock, order_place
from payments.exceptions import PaymentDeclined, PaymentInProgress
from payments.models import Payment
from payments.providers import CardInput, SavedMethod
from payments.services import (
    Outcome,
    payment_abandon,
    payment_call,
    payment_claim,
    payment_method_save,
    payment_record,
    refunds_claim,
    refunds_execute_on_commit,
)

logger = logging.getLogger(__name__)

# How long a twin submit of a checkout form waits for the first to place its order.
TWIN_WAIT_SECONDS = 15


def order_checkout(
    *, quantities: Mapping[int, int], card: CardInput, charge_now: Decimal, **placement
) -> Order:
    """Checkout with payment: save the card, charge `charge_now` (the units in stock,
    as the page showed them), then place the order, all before or after the stock
    transaction, never inside it. A declined card raises PaymentDeclined and leaves
    nothing behind; a placement that refuses (stock changed) refunds the charge."""
    checkout_key = placement.get("checkout_key", "")
    if placed := order_by_checkout_key(key=checkout_key):
        return placed
    method = payment_method_save(email=placement["email"], card=card)
    charge = None
    if charge_now > 0:
        charge = _checkout_charge(checkout_key, method, charge_now)
        if charge.order_id:  # a twin submit placed the order with its charge
            return charge.order
    try:
        return order_place(quantities=quantities, payment=charge, method=method, **placement)
    except Exception:
        if charge is not None:
            _checkout_charge_void(charge)
        raise


def _checkout_charge(checkout_key: str, method: SavedMethod, amount: Decimal) -> Payment:
    # A form without a key (a script) still claims a key of its own for the call.
    key = f"checkout:{checkout_key or timezone.now().timestamp()}"
    charge = payment_claim(
        order_id=None, kind=Payment.Kind.CHARGE, amount=amount, key=key, method=method
    )
    if charge is None:
        return _twin_charge(key)
    outcome = payment_call(payment=charge)
    if not outcome.ok:
        payment_abandon(payment=charge)
        raise PaymentDeclined(
            outcome.error
            if not outcome.retry
            else "We could not reach the payment provider. Nothing was charged; please try again."
        )
    payment_record(payment=charge, outcome=outcome)
    return charge


def _twin_charge(key: str) -> Payment:
    """The same form was sent twice at once: wait for the first to place its order."""
    deadline = time.monotonic() + TWIN_WAIT_SECONDS
    while time.monotonic() < deadline:
        first = Payment.objects.select_related("order").filter(key=key).first()
        if first is None or first.status == Payment.Status.FAILED:
            break
        if first.order_id:
            return first
        time.sleep(0.1)
    raise PaymentInProgress(
        "This order is already being placed: reload the page in a moment to see it."
    )


def _checkout_charge_void(charge: Payment) -> None:
    """The order was not placed: give the checkout charge back in full, now."""
    with transaction.atomic():
        refunds = refunds_claim(
            charges=Payment.objects.filter(pk=charge.pk),
            amount=charge.amount,
            key=f"checkout-void:{charge.pk}",
            units={},
            reason="The order was not placed.",
        )
    for refund in refunds:
        _settle(refund, payment_call(payment=refund))


def order_charge_due(*, order_id: int) -> Payment | None:
    """Charge the saved card off-session for the order's allocated units not yet paid
    (back-ordered units that have arrived). Safe to run twice: the claim names the
    units it pays for. On failure the customer is emailed a link to pay with another
    card and the units are held until `payment_due_by`."""
    order = Order.objects.filter(pk=order_id).first()
    if order is None or not order.pays_in_store:
        return None
    with transaction.atomic():
        _, lines = order_lines_lock(order)
        if order.payment_due_by is not None:
            return None  # the card failed: the customer pays on the order page
        charge = _charge_claim(order, lines, key="charge", off_session=True)
    if charge is None:
        return None
    return _charge_settle(charge, payment_call(payment=charge))


def order_pay_due(*, order: Order, card: CardInput) -> Payment:
    """The customer pays what is due (units held after a failed charge) with another
    card, on the order page; that card becomes the saved one."""
    method = payment_method_save(email=order.email, card=card)
    with transaction.atomic():
        _, lines = order_lines_lock(order)
        charge = _charge_claim(order, lines, key="pay", off_session=False, method=method)
        if charge is None:
            raise OrderError("Nothing is due on this order now.")
    outcome = payment_call(payment=charge)
    if not outcome.ok:  # nothing kept: they may try another card at once
        payment_abandon(payment=charge)
        raise PaymentDeclined(outcome.error)
    return _charge_settle(charge, outcome)


def _charge_claim(
    order: Order,
    lines: list[OrderLine],
    *,
    key: str,
    off_session: bool,
    method: SavedMethod | None = None,
) -> Payment | None:
    due = {line.pk: line.unpaid_allocated for line in lines if line.unpaid_allocated > 0}
    if not due:
        return None
    by_pk = {line.pk: line for line in lines}
    amount = sum(
        by_pk[pk].units_value(by_pk[pk].paid + by_pk[pk].returned, units)
        for pk, units in due.items()
    )
    # The event: these lines reaching these paid counts.
    event = "-".join(f"{pk}.{by_pk[pk].paid + units}" for pk, units in sorted(due.items()))
    return payment_claim(
        order_id=order.pk,
        kind=Payment.Kind.CHARGE,
        amount=amount,
        key=f"{key}:{order.pk}:{event}",
        units=due,
        method=method
        or SavedMethod(order.payment_customer, order.payment_method, order.card_last4),
        off_session=off_session,
    )


def _charge_settle(charge: Payment, outcome: Outcome) -> Payment:
    """Record a charge for allocated units and apply it: the units are paid, or the
    order is held for another card and the customer is told."""
    with transaction.atomic():
        order = charge.order
        _, lines = order_lines_lock(order)
        if not payment_record(payment=charge, outcome=outcome):
            return charge
        if outcome.ok:
            for line in lines:
                units = charge.units.get(str(line.pk), 0)
                if units:
                    # Still allocated: a hold is released only with no charge pending.
                    line.paid += min(units, line.unpaid_allocated)
            OrderLine.objects.bulk_update(lines, ["paid"])
            if not charge.off_session:  # a new card: it pays from now on
                order.payment_customer, order.payment_method = charge.customer, charge.method
                order.card_last4 = charge.card_last4
            order.payment_due_by = None
            order.save(
                update_fields=["payment_customer", "payment_method", "card_last4", "payment_due_by"]
            )
        elif charge.off_session:
            order.payment_due_by = timezone.localdate() + datetime.timedelta(
                days=settings.PAYMENT_HOLD_DAYS
            )
            order.save(update_fields=["payment_due_by"])
            email_queue(
                key=f"payment-failed:{charge.pk}",
                to=order.email,
                event="payment_failed",
                context={
                    **order_email_greeting(order=order),
                    "amount": str(charge.amount),
                    "card_last4": charge.card_last4,
                    "error": charge.error,
                    "due_by": date_told(order.payment_due_by),
                },
            )
    return charge


def _settle(payment: Payment, outcome: Outcome) -> None:
    """Record a provider call's outcome, with its effect: a charge for an order's units
    pays them (or holds them); a refund, or a checkout charge with no order yet, is
    only recorded (a refund's effect was applied when it was claimed)."""
    if payment.kind == Payment.Kind.CHARGE and payment.order_id is not None:
        _charge_settle(payment, outcome)
    else:
        with transaction.atomic():
            payment_record(payment=payment, outcome=outcome)


def order_line_return(*, line: OrderLine, units: int, reason: str) -> Decimal:
    """Staff take back shipped units and refund what they cost; returns the amount.
    The refund is claimed with the return, in one transaction, and sent after commit."""
    if not reason.strip():
        raise OrderError("Give the reason for the return: the customer is told it.")
    with transaction.atomic():
        _, lines = order_lines_lock(line.order)
        line = next(row for row in lines if row.pk == line.pk)
        returnable = line.shipped - line.returned
        if not 1 <= units <= returnable:
            raise NothingToReturn(
                f"Line {line.pk} has {returnable} shipped unit(s) that can be returned."
            )
        amount = line.units_value(line.returned, units)
        refunds = []
        if line.order.pays_in_store:
            refunds = refunds_claim(
                charges=line.order.payments.filter(
                    kind=Payment.Kind.CHARGE, status=Payment.Status.SUCCEEDED
                ),
                amount=amount,
                key=f"return:{line.pk}.{line.returned + units}",
                units={line.pk: units},
                reason=reason,
            )
            line.paid -= units
        line.returned += units
        line.save(update_fields=["paid", "returned"])
        refunds_execute_on_commit(refunds)
        email_queue(
            key=f"returned:{line.pk}.{line.returned}",
            to=line.order.email,
            event="refunded",
            context={
                **order_email_facts(order=line.order, lines=lines),
                "returned": [{"name": line.product.name, "units": units}],
                "amount": str(amount),
                "reason": reason,
            },
        )
    return amount


def payment_holds_expire() -> int:
    """Orders whose card failed and whose customer did not pay by `payment_due_by`:
    the unpaid allocated units go back to the queue's next customer and the customer
    is told. Returns the orders released."""
    today = timezone.localdate()
    pending = Payment.objects.filter(order=OuterRef("pk"), status=Payment.Status.PENDING)
    released = 0
    for order in Order.objects.filter(payment_due_by__lt=today).exclude(Exists(pending)):
        with transaction.atomic():
            products, lines = order_lines_lock(order)
            if order.payment_due_by is None or order.payment_due_by >= today:
                continue  # paid meanwhile
            if order.payments.filter(status=Payment.Status.PENDING).exists():
                continue  # a payment in flight decides
            unpaid = [line for line in lines if line.unpaid_allocated > 0]
            cancelled = []
            for line in unpaid:
                units = line.unpaid_allocated
                stock_release(product=products[line.product_id], entries=[(units, line.reference)])
                line.allocated -= units
                line.cancelled += units
                cancelled.append({"name": line.product.name, "units": units})
            OrderLine.objects.bulk_update(unpaid, ["allocated", "cancelled"])
            order.payment_due_by = None
            order.save(update_fields=["payment_due_by"])
            _allocate_on_commit({line.product_id for line in unpaid})
            etas_refresh_on_commit(product_ids=[line.product_id for line in unpaid])
            if cancelled:
                cancellation_tell(
                    order=order,
                    lines=lines,
                    event_prefix="payment-hold-expired",
                    cancelled_lines=unpaid,
                    cancelled=cancelled,
                    by_staff=True,
                    reason=(
                        "We could not take payment for them by "
                        f"{date_told(today - datetime.timedelta(days=1))}, so they have "
                        "gone to the next customer waiting."
                    ),
                )
                released += 1
    return released


def _allocate_on_commit(product_ids) -> None:
    from backorders.tasks import backorders_allocate_task

    for product_id in sorted(product_ids):
        enqueue_on_commit(backorders_allocate_task, product_id)


def orders_with_charges_due(*, line_ids: list[int] | None = None) -> list[int]:
    """Orders paying in the store with allocated units not yet charged, not held for
    another card and with no charge in flight: what the charge tasks work on."""
    pending = Payment.objects.filter(order=OuterRef("order_id"), status=Payment.Status.PENDING)
    lines = OrderLine.objects.filter(
        allocated__gt=0,
        paid__lt=F("allocated") + F("shipped") - F("returned"),
        order__payment_due_by=None,
    ).exclude(Q(order__payment_method="") | Q(Exists(pending)))
    if line_ids is not None:  # just these (a fill batch's), not every line
        lines = lines.filter(pk__in=line_ids)
    return sorted(set(lines.values_list("order_id", flat=True)))


# A payment row pending this long was left by a dead worker or request.
STALLED_AFTER = datetime.timedelta(minutes=10)


def payments_stalled_resume() -> int:
    """Finish what a dead worker or request left: a pending row is called again with
    its own idempotency key (so the provider answers with the first call's result, if
    it got one) and recorded; a checkout charge whose order was never placed is then
    refunded in full. Returns the rows resumed."""
    stalled_before = timezone.now() - STALLED_AFTER
    resumed = 0
    stalled = Payment.objects.select_related("order", "refund_of").filter(
        status=Payment.Status.PENDING, created_at__lt=stalled_before
    )
    for payment in stalled.order_by("pk"):
        _settle(payment, payment_call(payment=payment))
        resumed += 1
    orphans = Payment.objects.filter(
        kind=Payment.Kind.CHARGE,
        status=Payment.Status.SUCCEEDED,
        order=None,
        created_at__lt=stalled_before,
    ).exclude(refunds__status__in=[Payment.Status.PENDING, Payment.Status.SUCCEEDED])
    for charge in orphans:
        _checkout_charge_void(charge)
        resumed += 1
    return resumed


def payment_event_reconcile(*, kind: str, key: str, provider_id: str, error: str = "") -> bool:
    """The provider tells of a charge or refund (a webhook): settle the row it is
    about if a dead worker or request left it pending, as its own call would have.
    `key` is the idempotency key the row gave the provider. True when it settled one."""
    _, _, pk = key.rpartition("#")
    payment = (
        Payment.objects.select_related("order", "refund_of")
        .filter(pk=int(pk) if pk.isdigit() else None, status=Payment.Status.PENDING)
        .first()
    )
    if payment is None or payment.idempotency_key != key:
        return False  # settled already by its own call, or not ours
    ok = kind in ("payment_intent.succeeded", "refund.created", "refund.updated") and not error
    _settle(payment, Outcome(ok=ok, provider_id=provider_id, error=error))
    return True
