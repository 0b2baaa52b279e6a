"""Every write to orders. Lock order everywhere: products (primary-key order, through
catalog.services.products_lock), then order lines (primary-key order)."""

import hashlib
import itertools
import logging
from collections.abc import Collection, Iterable, Mapping
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import (
    BooleanField,
    Case,
    CharField,
    DecimalField,
    Exists,
    Expression,
    ExpressionWrapper,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Cast, Concat, JSONArray, JSONObject
from django.urls import reverse
from django.utils import timezone

from catalog.models import Product
from catalog.selectors import backorder_eta, promise_date
from catalog.services import (
    products_lock,
    stock_allocate,
    stock_allocate_rows,
    stock_backorder,
    stock_ship,
)
from core.broker import enqueue_on_commit
from notifications.services import email_queue, emails_queue_rows
from orders.cart import max_line_quantity
from orders.exceptions import (
    BackorderNotAccepted,
    CartEmpty,
    ChargeChanged,
    NothingToCancel,
    NothingToShip,
    OrderError,
    OrderNotReady,
    PurchaseRefused,
)
from orders.models import (
    LINE_REFERENCE,
    QUEUE_ORDER,
    DatabaseNow,
    DelayNotice,
    Order,
    OrderLine,
    ShippingPreference,
)
from orders.promises import (
    ANSWERS,
    date_told,
    etas_refresh_on_commit,
    notices_close,
    promise_broken,
)
from orders.selectors import (
    backorders_unaccepted,
    order_by_checkout_key,
    order_email_facts,
    order_email_facts_expression,
)
from payments.models import Payment
from payments.providers import SavedMethod

logger = logging.getLogger(__name__)


def order_place(
    *,
    quantities: Mapping[int, int],
    email: str,
    name: str,
    shipping_address: str,
    shipping_preference: str = ShippingPreference.SHIP_READY_NOW,
    backorder_accepted: bool = False,
    backorders_shown: Mapping[int, int] | None = None,
    checkout_key: str = "",
    method: SavedMethod | None = None,
    payment: Payment | None = None,
) -> Order:
    """Place an order for {product id: quantity}, all or nothing.

    Allocates what is available and queues the rest as back-orders where each product's
    policy allows; otherwise raises PurchaseRefused and saves nothing. Back-orders need
    the shopper's acceptance (BackorderNotAccepted), judged on stock at this moment;
    with `backorders_shown` ({product id: units} the shopper saw on back-order) it covers
    no more units than that.
    A `checkout_key` already used returns the order it placed, so a form submitted
    twice (or five times at once) places one order.
    With the shopper's saved card (`method`) the order pays in the store: `payment`,
    the checkout charge made just before (orders.billing.order_checkout), must be what
    the units allocated now cost, else ChargeChanged; the later charges use `method`.
    """
    if placed := order_by_checkout_key(key=checkout_key):
        return placed
    if not quantities:
        raise CartEmpty()
    if bad := [q for q in quantities.values() if not 1 <= q <= max_line_quantity()]:
        raise PurchaseRefused(
            [f"A quantity must be a whole number from 1 to {max_line_quantity()}, not {bad[0]}."]
        )
    try:
        with transaction.atomic():
            products = products_lock(product_ids=quantities)
            # A twin submit of the same form held these locks before us and has committed.
            if placed := order_by_checkout_key(key=checkout_key):
                return placed
            if problems := _purchase_problems(products, quantities):
                raise PurchaseRefused(problems)
            splits = {
                pid: products[pid].purchase_policy.split(quantity)
                for pid, quantity in quantities.items()
            }
            backorders = {pid: waiting for pid, (_, waiting) in splits.items() if waiting}
            # The promise, made now for each back-order at the end of its queue.
            etas = {
                pid: backorder_eta(product=products[pid], quantity=quantities[pid])
                for pid in backorders
            }
            if unaccepted := backorders_unaccepted(
                backorders=backorders, accepted=backorder_accepted, shown=backorders_shown
            ):
                raise BackorderNotAccepted([products[pid].name for pid in sorted(unaccepted)])
            charge_now = sum(
                (products[pid].price * allocate for pid, (allocate, _) in splits.items()),
                Decimal("0.00"),
            )
            charged = payment.amount if payment else Decimal("0.00")
            if method is not None and charge_now != charged:
                raise ChargeChanged(charged, charge_now)

            order = Order.objects.create(
                checkout_key=checkout_key,
                email=email,
                name=name,
                shipping_address=shipping_address,
                shipping_preference=shipping_preference,
                backorder_accepted=bool(backorders),
                payment_customer=method.customer if method else "",
                payment_method=method.method if method else "",
                card_last4=method.last4 if method else "",
            )
            # The database's clock, read under the product locks: queue time follows commit
            # order per product whichever web machine placed the order.
            OrderLine.objects.bulk_create(
                OrderLine(
                    order=order,
                    product=products[pid],
                    unit_price=products[pid].price,
                    # Decided here, from the split under the lock, never from the form.
                    backorder_unit_discount=(
                        products[pid].backorder_unit_discount if splits[pid][1] else 0
                    ),
                    quantity=quantity,
                    allocated=splits[pid][0],
                    paid=splits[pid][0] if method else 0,
                    backordered=splits[pid][1],
                    queued_units=splits[pid][1],
                    queued_at=DatabaseNow() if splits[pid][1] else None,
                    eta=etas.get(pid),
                    eta_told=etas.get(pid),
                    promised_by=promise_date(etas[pid]) if pid in etas else None,
                )
                for pid, quantity in sorted(quantities.items())
            )
            # Staff may have moved some back-orders below the default priority: the new
            # ones queue ahead of them, so their dates may move.
            etas_refresh_on_commit(
                product_ids=OrderLine.objects.filter(
                    product_id__in=backorders, backordered__gt=0, priority__lt=0
                ).values_list("product_id", flat=True)
            )
            lines = list(order.lines.order_by("pk"))
            if payment is not None:
                Payment.objects.filter(pk=payment.pk).update(
                    order=order, units={str(line.pk): line.paid for line in lines if line.paid}
                )
            for line in lines:
                line.order, line.product = order, products[line.product_id]
                product = line.product
                if line.allocated:
                    stock_allocate(product=product, entries=[(line.allocated, line.reference)])
                if line.backordered:
                    stock_backorder(product=product, units=line.backordered)
            email_queue(
                key=f"order-placed:{order.pk}",
                to=order.email,
                event="order_placed",
                context={
                    **order_email_facts(order=order, lines=lines),
                    "card_last4": order.card_last4,
                    "charged_now": str(charged),
                },
            )
    except IntegrityError:
        # A twin with other products (so not queued behind our locks) committed first:
        # the unique key is the last guard.
        if placed := order_by_checkout_key(key=checkout_key):
            return placed
        raise
    return order


def _purchase_problems(products: Mapping[int, Product], quantities: Mapping[int, int]) -> list[str]:
    problems = []
    for pid, quantity in sorted(quantities.items()):
        if pid not in products:
            problems.append(f"Product {pid} is no longer sold.")
            continue
        permitted, reason = products[pid].purchase_policy.is_purchase_permitted(quantity)
        if not permitted:
            problems.append(f"{products[pid].name} {reason}; you asked for {quantity}.")
    return problems


def order_lines_lock(order: Order) -> tuple[dict, list[OrderLine]]:
    """Lock the order's products, then its lines, and re-read the order (its shipping
    preference, card and payment hold may have changed) and its lines."""
    product_ids = order.lines.values_list("product_id", flat=True)
    products = products_lock(product_ids=product_ids)
    lines = list(order.lines.order_by("pk").select_for_update(of=("self",)))
    order.refresh_from_db()
    for line in lines:
        line.order, line.product = order, products[line.product_id]
    return products, lines


def order_ship(*, order: Order) -> int:
    """Ship every allocated unit of the order; returns the units shipped."""
    with transaction.atomic():
        products, lines = order_lines_lock(order)
        waiting = any(line.backordered for line in lines)
        if order.shipping_preference == ShippingPreference.SHIP_ALL_TOGETHER and waiting:
            raise OrderNotReady(
                f"Order {order.number} ships all together and still waits for back-ordered units."
            )
        # Only what is paid for ships (orders paid outside the store: all allocated).
        shipping = {
            line.pk: line.paid_allocated if order.pays_in_store else line.allocated
            for line in lines
        }
        ready = [line for line in lines if shipping[line.pk] > 0]
        if not ready:
            unpaid = any(line.allocated for line in lines)
            raise NothingToShip(
                f"Order {order.number} has no units ready to ship"
                + (": its allocated units are not paid for yet." if unpaid else ".")
            )
        shipped = [{"name": line.product.name, "units": shipping[line.pk]} for line in ready]
        movements = []
        for line in ready:
            movements += stock_ship(
                product=products[line.product_id], entries=[(shipping[line.pk], line.reference)]
            )
            line.shipped += shipping[line.pk]
            line.allocated -= shipping[line.pk]
        OrderLine.objects.bulk_update(ready, ["allocated", "shipped"])
        email_queue(
            key=f"shipped:{order.pk}:{movements[0].pk}",
            to=order.email,
            event="shipped",
            context={**order_email_facts(order=order, lines=lines), "shipped": shipped},
        )
    return sum(item["units"] for item in shipped)


def orders_ship(*, orders: Iterable[Order]) -> list[tuple[Order, int | OrderError]]:
    """Staff ship several orders in one transaction: (order, units shipped or the
    refusal) for each. Every product of every order is locked first, in pk order, so
    this cannot deadlock with a checkout; an order that cannot ship is refused alone."""
    orders = sorted(orders, key=lambda order: order.pk)
    results: list[tuple[Order, int | OrderError]] = []
    with transaction.atomic():
        products_lock(product_ids=_product_ids_of(order__in=orders))
        for order in orders:
            try:
                results.append((order, order_ship(order=order)))
            except OrderError as error:
                results.append((order, error))
    return results


def order_lines_cancel_by_staff(*, line_ids: Collection[int], reason: str) -> dict[Order, int]:
    """Staff cancel the waiting units of these lines, telling each customer the reason;
    one transaction, all products locked first in pk order. Returns the units cancelled
    per order."""
    with transaction.atomic():
        # Every product of every order touched, as order_cancel_backorders locks each
        # order's products: all of them first, in pk order, so no lock comes out of turn.
        orders = OrderLine.objects.filter(pk__in=line_ids).values("order_id")
        products_lock(product_ids=_product_ids_of(order__in=orders))
        by_order: dict[Order, list[int]] = {}
        lines = OrderLine.objects.filter(pk__in=line_ids, backordered__gt=0)
        for line in lines.select_related("order").order_by("order_id", "pk"):
            by_order.setdefault(line.order, []).append(line.pk)
        return {
            order: order_cancel_backorders(order=order, line_ids=ids, reason=reason, by_staff=True)
            for order, ids in by_order.items()
        }


def _product_ids_of(**lines) -> set[int]:
    return set(OrderLine.objects.filter(**lines).values_list("product_id", flat=True))


def order_shipping_preference_set(*, order: Order, preference: str) -> None:
    """The customer changes when to ship: what is ready now, or all together."""
    if preference not in ShippingPreference.values:
        raise OrderError(f"Unknown shipping preference {preference!r}.")
    with transaction.atomic():
        _, lines = order_lines_lock(order)
        if all(line.settled for line in lines):
            raise OrderError(f"Order {order.number} has nothing left to ship.")
        order.shipping_preference = ShippingPreference(preference)
        order.save(update_fields=["shipping_preference"])


def order_cancel_backorders(
    *,
    order: Order,
    line_ids: Collection[int],
    reason: str = "",
    by_staff: bool = False,
    units: int | None = None,
) -> int:
    """Cancel the units still waiting on these lines of the order, by the customer or
    by staff (with the reason they give the customer); with `units`, only that many of
    one line's (the rest keep their place in the queue). Returns units cancelled."""
    with transaction.atomic():
        products, lines = order_lines_lock(order)
        cancelling = [line for line in lines if line.pk in line_ids and line.backordered]
        if not cancelling or len(cancelling) < len(set(line_ids)):
            raise NothingToCancel("That line has no back-ordered units to cancel.")
        if units is not None and not (
            len(cancelling) == 1 and 1 <= units <= cancelling[0].backordered
        ):
            raise NothingToCancel(
                f"You can cancel 1 to {cancelling[0].backordered} back-ordered units there."
            )
        taking = {line.pk: line.backordered if units is None else units for line in cancelling}
        cancelled = [{"name": line.product.name, "units": taking[line.pk]} for line in cancelling]
        for line in cancelling:
            stock_backorder(product=products[line.product_id], units=-taking[line.pk])
            line.cancelled += taking[line.pk]
            line.backordered -= taking[line.pk]
        OrderLine.objects.bulk_update(cancelling, ["cancelled", "backordered"])
        notices_close(
            DelayNotice.objects.filter(
                line__in=[line for line in cancelling if not line.backordered],
                outcome=DelayNotice.Outcome.OPEN,
            ).values_list("pk", flat=True),
            DelayNotice.Outcome.CANCEL,
            by=DelayNotice.DecidedBy.STAFF if by_staff else DelayNotice.DecidedBy.CUSTOMER,
        )
        # The lines behind move up.
        etas_refresh_on_commit(product_ids=[line.product_id for line in cancelling])
        cancellation_tell(
            order=order,
            lines=lines,
            event_prefix="backorder-cancelled",
            cancelled_lines=cancelling,
            cancelled=cancelled,
            by_staff=by_staff,
            reason=reason,
        )
    return sum(item["units"] for item in cancelled)


def cancellation_tell(
    *,
    order: Order,
    lines: list[OrderLine],
    event_prefix: str,
    cancelled_lines: list[OrderLine],
    cancelled: list[dict],
    by_staff: bool,
    reason: str,
) -> None:
    """Email the customer which units of the order were cancelled and why, with what
    the order costs now. Each line with the units cancelled from it so far names the
    event, so a second write of the same cancellation sends nothing more."""
    email_queue(
        key=f"{event_prefix}:{order.pk}:"
        + "-".join(f"{line.pk}.{line.cancelled}" for line in cancelled_lines),
        to=order.email,
        event="backorder_cancelled",
        context={
            **order_email_facts(order=order, lines=lines),
            "cancelled": cancelled,
            "by_staff": by_staff,
            "reason": reason,
        },
    )


# The window in which one request to list orders sends one email: more requests in it
# send nothing more, whoever makes them.
ORDERS_LIST_WINDOW_SECONDS = 600


def orders_list_send(*, email: str) -> bool:
    """Email `email` a link to every order placed with it, at most once per window;
    False when there is none (the caller answers alike either way)."""
    orders = list(
        Order.objects.filter(email__iexact=email.strip())
        .prefetch_related("lines")  # Order.status reads them
        .order_by("-created_at")
    )
    if not orders:
        return False
    address = email.strip().lower()
    window = int(timezone.now().timestamp()) // ORDERS_LIST_WINDOW_SECONDS
    # The key names the address by its digest: an address may be longer than a key.
    digest = hashlib.sha256(address.encode()).hexdigest()[:32]
    with transaction.atomic():
        email_queue(
            key=f"orders-list:{digest}:{window}",
            to=orders[0].email,
            event="orders_list",
            context={
                "link_url": settings.SITE_URL + reverse("catalog:product_list"),
                "link_label": "Visit the store",
                "orders": [
                    {
                        "number": order.number,
                        "placed": date_told(timezone.localdate(order.created_at)),
                        "status": order.status.label,
                        "url": settings.SITE_URL + order.get_absolute_url(),
                    }
                    for order in orders
                ],
            },
        )
    return True


def delay_notice_answer(*, order: Order, notice_id: int, answer: str) -> DelayNotice:
    """The customer answers a delay notice on their order: wait (the revised date, or
    a fresh default window when there is none, becomes the promise) or cancel the
    waiting units for a full refund. Repeating the same answer changes nothing; a
    notice whose units have all arrived meanwhile is closed as resolved."""
    if answer not in ANSWERS:
        raise OrderError("Choose to wait or to cancel.")
    if not DelayNotice.objects.filter(pk=notice_id, line__order=order).exists():
        raise OrderError("There is no such delay notice on this order.")
    with transaction.atomic():
        _, lines = order_lines_lock(order)
        notice = DelayNotice.objects.select_for_update(of=("self",)).get(pk=notice_id)
        line = next(line for line in lines if line.pk == notice.line_id)
        if not notice.is_open:
            if notice.outcome == answer:
                return notice  # a repeated click
            raise OrderError(
                f"This delay was settled already: {notice.get_outcome_display().lower()}."
            )
        if not line.backordered:
            notices_close([notice.pk], DelayNotice.Outcome.RESOLVED)
        elif answer == DelayNotice.Outcome.WAIT:
            line.promised_by = notice.revised_date or promise_date(None)
            line.save(update_fields=["promised_by"])
            notices_close([notice.pk], answer, by=DelayNotice.DecidedBy.CUSTOMER)
        else:
            # Closes the notice as cancelled, releases the queue place and tells them.
            order_cancel_backorders(
                order=order,
                line_ids=[line.pk],
                reason="You chose to cancel after we told you of a supplier delay.",
            )
        notice.refresh_from_db()
    return notice


def delay_notices_expire() -> tuple[int, int]:
    """Settle the notices whose answer date has passed without an answer: where
    silence is consent the revised date becomes the promise; otherwise the waiting
    units are cancelled and refunded and the customer is told. Notices whose units all
    arrived are closed too. Each notice in its own transaction, with its order's
    products locked first. Returns (consented, cancelled)."""
    today = timezone.localdate()
    due = DelayNotice.objects.filter(outcome=DelayNotice.Outcome.OPEN).filter(
        Q(answer_by__lt=today) | Q(line__backordered=0)
    )
    consented = cancelled = 0
    for notice_id, order in due.order_by("pk").values_list("pk", "line__order"):
        with transaction.atomic():
            _, lines = order_lines_lock(Order.objects.get(pk=order))
            notice = (
                DelayNotice.objects.select_for_update(of=("self",))
                .filter(pk=notice_id, outcome=DelayNotice.Outcome.OPEN)
                .first()
            )
            if notice is None:
                continue  # answered meanwhile
            line = next(line for line in lines if line.pk == notice.line_id)
            late = promise_broken(
                eta=line.eta,
                eta_told=line.eta_told,
                promised_by=line.promised_by,
                today=today,
                noticed=True,
            )
            if not line.backordered or not late:
                # Arrived, or back on time before the customer was told: promises_keep
                # sends the good news.
                notices_close([notice.pk], DelayNotice.Outcome.RESOLVED)
            elif not notice.needs_consent:
                line.promised_by = notice.revised_date
                line.save(update_fields=["promised_by"])
                notices_close([notice.pk], DelayNotice.Outcome.SILENCE)
                consented += 1
            else:
                notices_close([notice.pk], DelayNotice.Outcome.AUTO_CANCELLED)
                order_cancel_backorders(
                    order=line.order,
                    line_ids=[line.pk],
                    by_staff=True,
                    reason=(
                        f"We told you of a supplier delay and did not hear from you by "
                        f"{date_told(notice.answer_by)}, so as promised we have cancelled "
                        "the waiting units; you will not be charged for them."
                    ),
                )
                cancelled += 1
    return consented, cancelled


def order_lines_fill_from_queue(*, product_id: int, batch_size: int) -> int:
    """Give the product's available units to the head of its back-order queue, at most
    `batch_size` lines, in one transaction, set-based (a popular product can have tens
    of thousands waiting); returns the units allocated. The back-order engine calls it
    until it returns 0."""
    with transaction.atomic():
        product = products_lock(product_ids=[product_id]).get(product_id)
        if product is None or product.available <= 0 or product.backordered <= 0:
            return 0
        # Every writer of a waiting line locks its product first, so the head cannot
        # change under us; still lock its lines, in pk order like every transaction.
        head = list(
            OrderLine.objects.backorder_queue(product_id).values_list("pk", "backordered")[
                :batch_size
            ]
        )
        list(
            OrderLine.objects.filter(pk__in=[pk for pk, _ in head])
            .order_by("pk")
            .select_for_update(of=("self",))
            .values_list("pk")
        )
        fills = []  # (line id, units, waiting), head first; only the last may be partial
        available = product.available
        for pk, waiting in head:
            if available == 0:
                break
            fills.append((pk, min(available, waiting), waiting))
            available -= fills[-1][1]
        if not fills:  # counters say lines wait, but none does: check_inventory names it
            logger.error("product %s counts waiting back-orders but has none", product_id)
            return 0
        partial_pk, partial_units, partial_waiting = fills[-1]
        if partial_units == partial_waiting:
            partial_pk = None
        # The ledger rows and emails are written before the lines change, each line's
        # fill being all it waits for but the partly filled head's. They select the
        # served lines as the head of the queue: one parameter, not a thousand ids.
        head_served = OrderLine.objects.backorder_queue(product_id).values("pk")[: len(fills)]
        served = OrderLine.objects.filter(pk__in=Subquery(head_served))
        units = Case(
            When(pk=partial_pk, then=Value(partial_units)),
            default=F("backordered"),
            output_field=IntegerField(),
        )
        allocated = stock_allocate_rows(
            product=product, source=served, units=units, reference=LINE_REFERENCE
        )
        _emails_queue_allocated(product=product, served=served, units=units)
        OrderLine.objects.filter(pk__in=[pk for pk, _, _ in fills]).exclude(pk=partial_pk).update(
            allocated=F("allocated") + F("backordered"),
            backordered=0,
            backorder_served_at=DatabaseNow(),
        )
        if partial_pk is not None:
            OrderLine.objects.filter(pk=partial_pk).update(
                allocated=F("allocated") + partial_units,
                backordered=F("backordered") - partial_units,
            )
        # The units served are charged before they can ship (orders.billing): the task
        # looks at these lines only, however long the product's queue was.
        from orders.tasks import lines_charges_due_task  # tasks import this module

        enqueue_on_commit(lines_charges_due_task, [pk for pk, _, _ in fills])
        return allocated


def _emails_queue_allocated(*, product: Product, served: QuerySet, units: Expression) -> None:
    """One email per order served (an order has one line per product). The key names
    the line and how much of its back-order has been served after this fill, so a
    second write of the same event is a no-op."""
    still_waiting = ExpressionWrapper(F("backordered") - units, IntegerField())
    others_waiting = OrderLine.objects.filter(
        order_id=OuterRef("order_id"), backordered__gt=0
    ).exclude(pk=OuterRef("pk"))
    ships_now = Case(
        When(order__shipping_preference=ShippingPreference.SHIP_READY_NOW, then=True),
        When(Q(backordered__gt=units) | Q(Exists(others_waiting)), then=False),
        default=True,
        output_field=BooleanField(),
    )
    facts = order_email_facts_expression()
    unit_charged = ExpressionWrapper(
        F("unit_price") - F("backorder_unit_discount"),
        DecimalField(max_digits=10, decimal_places=2),
    )
    served_after = ExpressionWrapper(
        F("queued_units") - F("cancelled") - still_waiting, IntegerField()
    )
    emails_queue_rows(
        source=served,
        key=Concat(
            Value("backorder-allocated:"),
            Cast(F("id"), CharField()),
            Value(":"),
            Cast(served_after, CharField()),
        ),
        to=F("order__email"),
        event="backorder_allocated",
        context=JSONObject(
            **facts,
            ships_now=ships_now,
            served=JSONArray(
                JSONObject(
                    name=Value(product.name),
                    sku=Value(product.sku),
                    units=units,
                    still_waiting=still_waiting,
                    # Back-ordered units cost the price less their discount, fixed at
                    # placement (numbers in the JSON: the templates format them).
                    unit_price=unit_charged,
                    amount=ExpressionWrapper(
                        unit_charged * units, DecimalField(max_digits=12, decimal_places=2)
                    ),
                )
            ),
            # The saved card the units are charged to ("" when paid outside the store).
            card_last4=F("order__card_last4"),
        ),
    )


def order_lines_move_to_front(*, line_ids: Collection[int]) -> list[OrderLine]:
    """Staff put these waiting back-orders at the head of their products' queues, ahead
    of every other, keeping their order among themselves. Returns the lines moved
    (product and order loaded), in queue order."""
    with transaction.atomic():
        product_ids = _product_ids_of(pk__in=line_ids, backordered__gt=0)
        products_lock(product_ids=product_ids)
        moving = list(
            OrderLine.objects.filter(pk__in=line_ids, backordered__gt=0)
            .select_related("order", "product")
            .order_by("product_id", *QUEUE_ORDER)
        )
        top = dict(
            OrderLine.objects.filter(product_id__in=product_ids, backordered__gt=0)
            .values("product_id")
            .annotate(top=Max("priority"))
            .values_list("product_id", "top")
        )
        for product_id, group in itertools.groupby(moving, key=lambda line: line.product_id):
            lines = list(group)
            for rank, line in enumerate(lines):
                line.priority = top[product_id] + len(lines) - rank
                line.reprioritized_at = DatabaseNow()  # the clock queued_at is read from
        OrderLine.objects.bulk_update(moving, ["priority", "reprioritized_at"])
        etas_refresh_on_commit(product_ids=product_ids)
    return moving
