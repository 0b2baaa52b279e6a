"""Money movements: claim a payment row for an event, make the provider call outside
any transaction, record its outcome. The callers (orders) decide what moves and apply
its effect on their rows in the transaction that records it."""

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.broker import enqueue_on_commit
from core.versions import order_version, versions_bump_on_commit
from payments.exceptions import PaymentError, PaymentUnavailable
from payments.models import Payment
from payments.providers import CardInput, SavedMethod, minor_units, provider

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    ok: bool
    provider_id: str = ""
    error: str = ""
    # The provider could not be reached: the row stays pending and is called again
    # with the same idempotency key.
    retry: bool = False


def payment_method_save(*, email: str, card: CardInput) -> SavedMethod:
    """Save the shopper's card with the provider for later charges; raises
    PaymentDeclined with a message for the shopper."""
    return provider().method_save(email=email, card=card)


def payment_claim(
    *,
    order_id: int | None,
    kind: str,
    amount: Decimal,
    key: str,
    units: Mapping[int, int] | None = None,
    method: SavedMethod | None = None,
    refund_of: Payment | None = None,
    off_session: bool = False,
    reason: str = "",
) -> Payment | None:
    """Claim the event `key` with a pending row, or None when it is claimed already
    (a retried task, a twin request). Runs in the caller's transaction if there is one."""
    try:
        with transaction.atomic():
            return Payment.objects.create(
                order_id=order_id,
                kind=kind,
                amount=amount,
                currency=settings.STORE_CURRENCY,
                key=key,
                units={str(line): n for line, n in (units or {}).items()},
                customer=method.customer if method else "",
                method=method.method if method else "",
                card_last4=method.last4 if method else "",
                refund_of=refund_of,
                off_session=off_session,
                provider=provider().name,
                reason=reason,
            )
    except IntegrityError:
        return None


def payment_call(*, payment: Payment) -> Outcome:
    """Make the provider call a pending row stands for. Never inside a transaction."""
    gateway = provider()
    try:
        if payment.kind == Payment.Kind.CHARGE:
            provider_id = gateway.charge(
                method=SavedMethod(payment.customer, payment.method, payment.card_last4),
                amount=minor_units(payment.amount),
                currency=payment.currency,
                key=payment.idempotency_key,
                off_session=payment.off_session,
            )
        else:
            provider_id = gateway.refund(
                charge_id=payment.refund_of.provider_id,
                amount=minor_units(payment.amount),
                key=payment.idempotency_key,
            )
    except PaymentUnavailable as error:
        logger.warning("payment %s: provider unavailable (%s); will retry", payment.pk, error)
        return Outcome(ok=False, error=error.message, retry=True)
    except PaymentError as error:  # declined, or refused
        return Outcome(ok=False, error=error.message)
    return Outcome(ok=True, provider_id=provider_id)


def payment_record(*, payment: Payment, outcome: Outcome) -> bool:
    """Record the outcome on the row, once: False when another run recorded it first
    (the caller then applies nothing). Call it in the transaction that applies the
    outcome's effect."""
    if outcome.retry:
        return False
    payment.status = Payment.Status.SUCCEEDED if outcome.ok else Payment.Status.FAILED
    payment.provider_id, payment.error = outcome.provider_id, outcome.error[:300]
    payment.settled_at = timezone.now()
    recorded = Payment.objects.filter(pk=payment.pk, status=Payment.Status.PENDING).update(
        status=payment.status,
        provider_id=payment.provider_id,
        error=payment.error,
        settled_at=payment.settled_at,
    )
    if recorded and payment.order_id is not None:
        # The order's page shows what was paid and refunded (a refund settles apart
        # from anything else of its order).
        versions_bump_on_commit(names=[order_version(payment.order_id)])
    return bool(recorded)


def payment_abandon(*, payment: Payment) -> None:
    """A declined checkout charge: nothing of it is kept, so the shopper may try
    another card with the same form."""
    Payment.objects.filter(pk=payment.pk, status=Payment.Status.PENDING).delete()


def refunds_claim(
    *, charges: QuerySet, amount: Decimal, key: str, units: Mapping[int, int], reason: str
) -> list[Payment]:
    """Claim refunds of `amount` against these charges, newest first, each no more than
    what is left of its charge (one query reads what each has left); in the caller's
    transaction. Nothing when the event is claimed already."""
    unrefunded = ~Q(refunds__status=Payment.Status.FAILED)
    charges = charges.annotate(
        refunded=Coalesce(Sum("refunds__amount", filter=unrefunded), Decimal("0"))
    ).order_by("-pk")
    claimed, left = [], amount
    for charge in charges:
        share = min(left, charge.amount - charge.refunded)
        if share <= 0:
            continue
        refund = payment_claim(
            order_id=charge.order_id,
            kind=Payment.Kind.REFUND,
            amount=share,
            key=f"{key}:{charge.pk}",
            units=units,
            refund_of=charge,
            reason=reason,
        )
        if refund is None:
            return []
        claimed.append(refund)
        left -= share
        if left <= 0:
            break
    if left > 0:
        raise PaymentError(f"Only {amount - left} of {amount} was charged and can be refunded.")
    return claimed


def refunds_execute_on_commit(refunds: list[Payment]) -> None:
    from payments.tasks import payment_execute_task  # tasks import this module

    for refund in refunds:
        enqueue_on_commit(payment_execute_task, refund.pk)


def payment_execute(*, payment_id: int) -> Payment | None:
    """Call and record a pending row whose effect needs nothing more from the caller
    (refunds: their effect was applied when they were claimed). Safe to run twice."""
    payment = Payment.objects.select_related("refund_of").filter(pk=payment_id).first()
    if payment is None or payment.status != Payment.Status.PENDING:
        return payment
    outcome = payment_call(payment=payment)
    with transaction.atomic():
        if payment_record(payment=payment, outcome=outcome) and not outcome.ok:
            logger.error("payment %s failed at the provider: %s", payment.pk, outcome.error)
    return payment
