import datetime
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Count,
    ExpressionWrapper,
    F,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Concat
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from catalog.models import Product, StockMovement
from catalog.policy import PurchasePolicy
from catalog.selectors import backorder_eta, promise_date, with_inbound_supply
from core.versions import order_version, product_version
from notifications.models import OutboxEmail
from orders.models import LINE_ORDER_NUMBER, DelayNotice, Order, OrderLine, ShippingPreference
from payments.models import Payment


@dataclass(frozen=True)
class CartLine:
    product: Product
    quantity: int
    policy: PurchasePolicy
    allocate_now: int
    backorder: int
    refusal: str  # empty when the quantity may be bought
    eta: datetime.date | None

    @property
    def discount(self) -> Decimal:
        """The back-order discount placing the order now would give."""
        return self.product.backorder_unit_discount * self.backorder

    @property
    def line_total(self) -> Decimal:
        return self.product.price * self.quantity - self.discount

    @property
    def charge_now(self) -> Decimal:
        """What checkout charges for this line: its units in stock now."""
        return self.product.price * self.allocate_now

    @property
    def promised_by(self) -> datetime.date | None:
        """The ship-by date placing the order now would promise for the back-order."""
        return promise_date(self.eta) if self.backorder else None


def cart_lines(*, quantities: Mapping[int, int]) -> list[CartLine]:
    """What checking out each cart line would do right now (it may change by then)."""
    products = with_inbound_supply(
        Product.objects.filter(pk__in=quantities).select_related("category")
    )
    lines = []
    for product in products.order_by("name", "pk"):
        quantity = quantities[product.pk]
        policy = product.purchase_policy
        allocate_now, backorder = policy.split(quantity)
        permitted, reason = policy.is_purchase_permitted(quantity)
        lines.append(
            CartLine(
                product=product,
                quantity=quantity,
                policy=policy,
                allocate_now=allocate_now,
                backorder=backorder,
                refusal="" if permitted else f"{product.name} {reason}.",
                eta=backorder_eta(product=product, quantity=quantity) if backorder else None,
            )
        )
    return lines


def products_with_backorders() -> list[int]:
    return list(
        Product.objects.filter(backordered__gt=0).order_by("pk").values_list("pk", flat=True)
    )


def delay_notices_open(*, order: Order) -> list[DelayNotice]:
    """The order's delay notices waiting for an answer, line and product loaded. One
    whose units have all arrived meanwhile waits for nothing (the sweep closes it)."""
    return list(
        DelayNotice.objects.filter(outcome="", line__order=order, line__backordered__gt=0)
        .select_related("line__product")
        .order_by("pk")
    )


# What new_order_token() and the checkout form make; anything else names no order.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,64}")


def backorders_unaccepted(
    *, backorders: Mapping[int, int], accepted: bool, shown: Mapping[int, int] | None
) -> set[int]:
    """The products whose back-ordered units ({product id: units}) the shopper's consent
    does not cover: all of them without consent; with `shown` (the units the shopper saw
    on back-order), those with more units now than shown."""
    return {
        pid
        for pid, units in backorders.items()
        if units and not (accepted and (shown is None or units <= shown.get(pid, 0)))
    }


def order_by_checkout_key(*, key: str) -> Order | None:
    """The order placed with this checkout key; none for a blank or malformed key."""
    if not _TOKEN_SHAPE.fullmatch(key):
        return None
    return Order.objects.filter(checkout_key=key).first()


def order_by_token(*, token: str) -> Order | None:
    if not _TOKEN_SHAPE.fullmatch(token):
        return None
    lines = OrderLine.objects.select_related("product").order_by("pk")
    return (
        Order.objects.prefetch_related(Prefetch("lines", queryset=lines))
        .filter(token=token)
        .first()
    )


def order_versions(*, order: Order) -> list[str]:
    """The versions an order's page shows (core.versions): its own, and its products',
    whose every change of stock moves the order's lines or their places in the queue.
    Pass the order with its lines loaded."""
    return [
        order_version(order.pk),
        *(product_version(line.product_id) for line in order.lines.all()),
    ]


def order_lookup(*, number: str, email: str) -> Order | None:
    """The order with this number and email, or None: both must match."""
    pk = Order.pk_from_number(number)
    if pk is None:
        return None
    return Order.objects.filter(pk=pk, email__iexact=email.strip()).first()


@dataclass(frozen=True)
class LineState:
    line: OrderLine
    queue_position: int | None

    @property
    def eta(self) -> datetime.date | None:
        """The waiting units' current ETA (kept by orders.promises); None when nothing
        waits or no confirmed inbound covers them."""
        return self.line.eta if self.line.backordered else None

    @property
    def promised_by(self) -> datetime.date | None:
        return self.line.promised_by if self.line.backordered else None

    def as_json(self) -> dict[str, Any]:
        line = self.line
        return {
            "sku": line.product.sku,
            "quantity": line.quantity,
            "allocated": line.allocated,
            "backordered": line.backordered,
            "shipped": line.shipped,
            "cancelled": line.cancelled,
            "unit_price": str(line.unit_price),
            "discount": str(line.discount),
            "eta": self.eta.isoformat() if self.eta else None,
            "promised_by": self.promised_by.isoformat() if self.promised_by else None,
            "queue_position": self.queue_position,
        }

    def as_email_facts(self) -> dict[str, Any]:
        return {
            **self.as_json(),
            "name": self.line.product.name,
            "unit_price": str(self.line.unit_price),
            "line_total": str(self.line.line_total),
            "eta": date_format(self.eta, "j F Y") if self.eta else None,
            "promised_by": date_format(self.promised_by, "j F Y") if self.promised_by else None,
            "lead_time_days": self.line.product.lead_time_days,
        }


def line_states(*, lines: Iterable[OrderLine]) -> list[LineState]:
    """Each line with its back-order's place in the queue (one query, however long
    the queues). Pass lines with their product loaded."""
    lines = list(lines)
    positions = dict(
        OrderLine.objects.filter(pk__in=[line.pk for line in lines if line.backordered])
        .annotate(lines_ahead=_ahead_of_row(Count("pk")))
        .values_list("pk", "lines_ahead")
    )
    return [
        LineState(
            line=line,
            queue_position=positions[line.pk] + 1 if line.pk in positions else None,
        )
        for line in lines
    ]


def _ahead_of_row(aggregate) -> Coalesce:
    """`aggregate` over the back-orders ahead of the outer query's line."""
    rows = OrderLine.objects.ahead_of().order_by().values("product_id").annotate(n=aggregate)
    return Coalesce(Subquery(rows.values("n")), 0)


def queue_position() -> Coalesce:
    """The outer query's waiting line's 1-based place in its product's queue, counted
    over the whole queue whatever else the outer query filters."""
    return _ahead_of_row(Count("pk")) + 1


CENT = Decimal("0.01")


@dataclass(frozen=True)
class OrderMoney:
    currency: str
    total: Decimal  # what the units still bought cost
    paid: Decimal  # charged, before refunds
    refunded: Decimal
    due_on_shipment: Decimal  # to be charged when the back-ordered units are allocated

    def as_json(self) -> dict[str, str]:
        return {
            "currency": self.currency,
            "total": str(self.total),
            "paid": str(self.paid),
            "refunded": str(self.refunded),
            "due_on_shipment": str(self.due_on_shipment),
        }


def order_due_on_shipment(*, order: Order, lines: Iterable[OrderLine]) -> Decimal:
    """What is still to be charged for the order's units not yet paid; nothing for an
    order paid outside the store."""
    zero = Decimal("0.00")
    return sum((line.due for line in lines), zero) if order.pays_in_store else zero


def order_money(*, order: Order) -> OrderMoney:
    """The order's money in plain figures: one query over its payments (the lines
    prefetched or loaded once)."""
    lines = list(order.lines.all())
    zero = Decimal("0.00")
    settled = order.payments.filter(status=Payment.Status.SUCCEEDED)
    sums = settled.aggregate(
        paid=Coalesce(Sum("amount", filter=Q(kind=Payment.Kind.CHARGE)), zero),
        refunded=Coalesce(Sum("amount", filter=Q(kind=Payment.Kind.REFUND)), zero),
    )
    return OrderMoney(
        currency=settings.STORE_CURRENCY.upper(),
        total=sum((line.line_total for line in lines), zero),
        # SQLite's sums come back without the column's places.
        paid=sums["paid"].quantize(CENT),
        refunded=sums["refunded"].quantize(CENT),
        due_on_shipment=order_due_on_shipment(order=order, lines=lines),
    )


def order_status_json(*, order: Order) -> dict[str, Any]:
    return {
        "number": order.number,
        "status": order.status.value,
        "awaiting_consent": bool(delay_notices_open(order=order)),
        **order_money(order=order).as_json(),
        "lines": [state.as_json() for state in line_states(lines=order.lines.all())],
    }


def order_email_facts_expression() -> dict[str, Any]:
    """order_email_facts' order-level facts as database expressions over order lines,
    for emails written set-based. Keep the two in step (a test compares them)."""
    status_prefix, status_suffix = reverse("orders:status", kwargs={"token": "~"}).split("~")
    return {
        "number": LINE_ORDER_NUMBER,
        "name": F("order__name"),
        "status_url": Concat(
            Value(settings.SITE_URL + status_prefix), F("order__token"), Value(status_suffix)
        ),
        "shipping_preference": Case(
            *(
                When(order__shipping_preference=value, then=Value(str(label)))
                for value, label in ShippingPreference.choices
            ),
            output_field=CharField(),
        ),
        "ships_ready_now": ExpressionWrapper(
            Q(order__shipping_preference=ShippingPreference.SHIP_READY_NOW), BooleanField()
        ),
    }


def order_email_greeting(*, order: Order) -> dict[str, Any]:
    """What every customer email about an order starts from: its number, the
    customer's name and the link to its page."""
    return {
        "number": order.number,
        "name": order.name,
        "status_url": settings.SITE_URL + order.get_absolute_url(),
    }


def order_email_facts(*, order: Order, lines: Iterable[OrderLine] = ()) -> dict[str, Any]:
    """What a customer email about the order needs, as plain data; with `lines`
    (product loaded) each line's state, queue position and ETA too."""
    lines = list(lines)
    return {
        **order_email_greeting(order=order),
        "shipping_preference": order.get_shipping_preference_display(),
        "ships_ready_now": order.shipping_preference == ShippingPreference.SHIP_READY_NOW,
        "lines": (facts := [state.as_email_facts() for state in line_states(lines=lines)]),
        "any_backordered": any(line["backordered"] for line in facts),
        # What the order costs and where it goes, for the emails that list its lines.
        "total": str(sum((line.line_total for line in lines), Decimal("0.00"))),
        "due_on_shipment": str(order_due_on_shipment(order=order, lines=lines)),
        "email": order.email,
        "shipping_address": order.shipping_address,
    }


# Far beyond the sweep's five minutes: only a stopped beat leaves a payment this long.
PAYMENT_OVERDUE = datetime.timedelta(hours=1)


def payment_problems() -> list[str]:
    """Money that does not add up, one message each: for every order paying in the
    store, what was charged minus what was refunded equals the value of its paid units
    (shipped, or allocated and charged in advance); nothing shipped unpaid; no checkout
    charge without its order left unrefunded; no provider call stuck or refund failed."""
    problems = []
    zero = Decimal("0.00")
    orders = (
        Order.objects.exclude(payment_method="")
        .annotate(
            charged=Coalesce(
                Sum(
                    "payments__amount",
                    filter=Q(payments__kind="charge", payments__status="succeeded"),
                ),
                zero,
            ),
            refunded=Coalesce(
                Sum(
                    "payments__amount",
                    filter=Q(payments__kind="refund") & ~Q(payments__status=Payment.Status.FAILED),
                ),
                zero,
            ),
        )
        .prefetch_related("lines")
        .order_by("pk")
    )
    for order in orders.iterator(chunk_size=2000):
        lines = list(order.lines.all())
        value = sum((line.units_value(line.returned, line.paid) for line in lines), zero)
        if order.charged - order.refunded != value:
            problems.append(
                f"payments: order {order.number} was charged {order.charged.quantize(CENT)} "
                f"and refunded {order.refunded.quantize(CENT)}, but its paid units are worth "
                f"{value}"
            )
        for line in lines:
            if line.shipped - line.returned > line.paid:
                problems.append(
                    f"payments: order {order.number} line {line.pk} shipped "
                    f"{line.shipped - line.returned} unit(s) but {line.paid} are paid"
                )
    stalled = timezone.now() - PAYMENT_OVERDUE
    unrefunded = Payment.objects.filter(
        kind="charge", status="succeeded", order=None, created_at__lt=stalled
    ).exclude(refunds__status=Payment.Status.SUCCEEDED)
    for charge in unrefunded:
        problems.append(
            f"payments: checkout charge {charge.provider_id} ({charge.amount}) has no order "
            "and is not refunded; is beat running? (see docs/operations.md)"
        )
    for payment in Payment.objects.filter(status="pending", created_at__lt=stalled):
        problems.append(
            f"payments: {payment.get_kind_display().lower()} {payment.key} pending since "
            f"{payment.created_at:%Y-%m-%d %H:%M}; is beat running? (see docs/operations.md)"
        )
    for refund in Payment.objects.filter(kind="refund", status="failed"):
        problems.append(
            f"payments: refund {refund.key} of {refund.amount} failed at the provider "
            f"({refund.error}); refund it by hand in the provider's dashboard"
        )
    return problems


def orders_ready_to_ship() -> QuerySet[Order]:
    """The shipping list: orders with units that may ship now, oldest first."""
    return Order.objects.ready_to_ship().order_by("created_at", "pk")


@dataclass(frozen=True)
class PickItem:
    order_number: str
    sku: str
    name: str
    units: int


def pick_list(*, orders: Iterable[Order]) -> list[PickItem]:
    """What to take off the shelves for those of these orders that may ship: each
    line's units that ship now (as order_ship counts them), by SKU then order, in one
    query."""
    ready = Order.objects.ready_to_ship().filter(pk__in=[order.pk for order in orders])
    lines = (
        OrderLine.objects.filter(order__in=ready)
        .select_related("order", "product")
        .order_by("product__sku", "order_id", "pk")
    )
    items = [
        PickItem(
            order_number=line.order.number,
            sku=line.product.sku,
            name=line.product.name,
            units=line.paid_allocated if line.order.pays_in_store else line.allocated,
        )
        for line in lines
    ]
    return [item for item in items if item.units]


@dataclass(frozen=True)
class TimelineEvent:
    at: datetime.datetime
    kind: str  # what sort of event, as staff read it: "Placed", "Shipped", "Email"…
    text: str
    who: str = ""  # a staff user, the customer, or the store; blank when obvious


def order_timeline(*, order: Order) -> list[TimelineEvent]:
    """Everything that happened to the order, oldest first, read from the rows each
    event already leaves: the stock ledger (allocations, releases, shipments), the
    outbox (every email, and each cancellation, which always tells the customer), the
    delay notices, the payments and the admin's log of staff actions with their
    reasons. Seven queries, however long the order's history."""
    from django.contrib.admin.models import LogEntry  # the admin's own action log

    lines = {line.reference: line for line in order.lines.select_related("product")}
    events = [
        TimelineEvent(
            order.created_at,
            "Placed",
            "; ".join(
                f"{line.quantity} × {line.product.name}"
                + (f" ({line.queued_units} back-ordered)" if line.queued_units else "")
                for line in lines.values()
            ),
            "the customer" if order.checkout_key else "",
        )
    ]
    for movement in StockMovement.objects.filter(reference__in=lines).order_by("pk"):
        name = lines[movement.reference].product.name
        if movement.kind == StockMovement.Kind.SHIPMENT:
            events.append(
                TimelineEvent(movement.created_at, "Shipped", f"{-movement.on_hand_delta} × {name}")
            )
        elif movement.allocated_delta > 0:
            events.append(
                TimelineEvent(
                    movement.created_at, "Reserved", f"{movement.allocated_delta} × {name}"
                )
            )
        else:
            events.append(
                TimelineEvent(
                    movement.created_at, "Released", f"{-movement.allocated_delta} × {name}"
                )
            )
    for line in lines.values():
        if line.eta_changed_at:
            eta = date_format(line.eta) if line.eta else "no confirmed date"
            events.append(TimelineEvent(line.eta_changed_at, "ETA", f"{line.product.name}: {eta}"))
    emails = OutboxEmail.objects.filter(to_email=order.email, context__number=order.number)
    for email in emails.order_by("created_at", "pk"):
        if email.event == "backorder_cancelled":
            facts = email.context
            events.append(
                TimelineEvent(
                    email.created_at,
                    "Cancelled",
                    "; ".join(f"{item['units']} × {item['name']}" for item in facts["cancelled"])
                    + (f". Reason: {facts['reason']}" if facts.get("reason") else ""),
                    "staff" if facts.get("by_staff") else "the customer or the store",
                )
            )
        subject = email.subject or email.event.replace("_", " ")
        events.append(
            TimelineEvent(
                email.created_at, "Email", f"{subject} ({email.get_status_display().lower()})"
            )
        )
    notices = DelayNotice.objects.filter(line__order=order).select_related("line__product")
    for notice in notices.order_by("pk"):
        revised = date_format(notice.revised_date) if notice.revised_date else "no date"
        events.append(
            TimelineEvent(
                notice.created_at,
                "Delay",
                f"{notice.units} × {notice.line.product.name} cannot ship by "
                f"{date_format(notice.promised_by)}; revised {revised}; "
                f"answer by {date_format(notice.answer_by)}",
            )
        )
        if notice.decided_at:
            events.append(
                TimelineEvent(
                    notice.decided_at,
                    "Delay",
                    notice.get_outcome_display(),
                    notice.get_decided_by_display(),
                )
            )
    for payment in order.payments.order_by("pk"):
        status = payment.get_status_display().lower()
        text = f"{payment.get_kind_display()} {payment.amount} {payment.currency.upper()}: {status}"
        if payment.error or payment.reason:
            text += f" ({payment.error or payment.reason})"
        events.append(TimelineEvent(payment.created_at, "Payment", text))
    log = LogEntry.objects.filter(
        content_type__app_label="orders", content_type__model="order", object_id=str(order.pk)
    ).select_related("user")
    for entry in log.order_by("pk"):
        events.append(
            TimelineEvent(
                entry.action_time, "Staff", entry.get_change_message(), entry.user.get_username()
            )
        )
    return sorted(events, key=lambda event: event.at)
