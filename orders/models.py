import secrets
from decimal import Decimal

from django.db import models
from django.db.models import CharField, Exists, F, OuterRef, Q, Value
from django.db.models.functions import Cast, Concat, Now
from django.urls import reverse

from catalog.models import Product

ORDER_NUMBER_OFFSET = 100000


def new_order_token() -> str:
    return secrets.token_urlsafe(32)  # 256 bits


class ShippingPreference(models.TextChoices):
    SHIP_READY_NOW = "ship_ready_now", "Ship what is ready now, the rest when it arrives"
    SHIP_ALL_TOGETHER = "ship_all_together", "Ship everything together when all is in"


class OrderStatus(models.TextChoices):
    BACKORDERED = "backordered", "Waiting for back-ordered items"
    READY_TO_SHIP = "ready_to_ship", "Ready to ship"
    PARTIALLY_SHIPPED = "partially_shipped", "Partly shipped"
    SHIPPED = "shipped", "Shipped"
    CANCELLED = "cancelled", "Cancelled"


def _lines_where(*conditions: Q, **lookups) -> Exists:
    """Whether the outer order has a line matching the conditions."""
    return Exists(OrderLine.objects.filter(*conditions, order=OuterRef("pk"), **lookups))


class OrderQuerySet(models.QuerySet):
    def with_status(self, status: "OrderStatus") -> "OrderQuerySet":
        """Orders whose derived status (Order.status) is `status`, in one query."""
        open_line = _lines_where(Q(shipped__lt=F("quantity") - F("cancelled")))
        kept_line = _lines_where(Q(cancelled__lt=F("quantity")))
        shipped_line = _lines_where(shipped__gt=0)
        waiting_line = _lines_where(backordered__gt=0)
        return self.filter(
            {
                OrderStatus.CANCELLED: ~kept_line,
                OrderStatus.SHIPPED: ~open_line & kept_line,
                OrderStatus.PARTIALLY_SHIPPED: open_line & shipped_line,
                OrderStatus.BACKORDERED: open_line & ~shipped_line & waiting_line,
                OrderStatus.READY_TO_SHIP: open_line & ~shipped_line & ~waiting_line,
            }[status]
        )

    def ready_to_ship(self) -> "OrderQuerySet":
        """Orders with units that may leave the warehouse now (what order_ship ships):
        allocated and, for an order paying in the store, paid for; an order shipping
        all together only once nothing of it waits."""
        shippable = Q(paid__gt=F("shipped") - F("returned"))  # paid_allocated > 0
        # Every such order has allocated units (paid ≤ allocated + shipped - returned):
        # starting from those lines (an index) keeps this fast however many orders exist.
        allocated = OrderLine.objects.filter(allocated__gt=0).values("order_id")
        return self.filter(
            Q(pk__in=allocated),
            (Q(payment_method="") & _lines_where(allocated__gt=0))
            | (~Q(payment_method="") & _lines_where(shippable)),
            Q(shipping_preference=ShippingPreference.SHIP_READY_NOW)
            | ~_lines_where(backordered__gt=0),
        )


class Order(models.Model):
    token = models.CharField(max_length=64, unique=True, default=new_order_token, editable=False)
    # The checkout form's own key: one order per submitted form, however often it is sent.
    # Orders placed elsewhere (staff, scripts) have none.
    checkout_key = models.CharField(max_length=64, blank=True, default="", editable=False)
    email = models.EmailField()
    name = models.CharField(max_length=200)
    shipping_address = models.TextField()
    shipping_preference = models.CharField(
        max_length=24, choices=ShippingPreference.choices, default=ShippingPreference.SHIP_READY_NOW
    )
    backorder_accepted = models.BooleanField(default=False)
    # The card saved at checkout for the charges when back-ordered units are allocated
    # (the provider's ids and the last four digits, nothing more). Empty: the order is
    # paid outside the store (placed by staff or a script), so nothing is charged.
    payment_customer = models.CharField(max_length=100, blank=True, editable=False)
    payment_method = models.CharField(max_length=100, blank=True, editable=False)
    card_last4 = models.CharField(max_length=4, blank=True, editable=False)
    # Set when a charge for allocated units failed: the customer may pay with another
    # card until this date, then the units go to the next customer in the queue.
    payment_due_by = models.DateField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = OrderQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        permissions = [
            ("ship_order", "Can ship orders and print pick lists"),
            ("refund_order", "Can refund returned units"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["checkout_key"],
                condition=~Q(checkout_key=""),
                name="order_one_per_checkout_key",
            )
        ]

    def __str__(self) -> str:
        return f"Order {self.number}"

    def get_absolute_url(self) -> str:
        return reverse("orders:status", kwargs={"token": self.token})

    @property
    def number(self) -> str:
        return str(ORDER_NUMBER_OFFSET + self.pk)

    @staticmethod
    def pk_from_number(number: str) -> int | None:
        """The id behind an order number as a customer types it ("#100042"), or None."""
        digits = number.strip().lstrip("#")
        if not (digits.isascii() and digits.isdigit()) or int(digits) <= ORDER_NUMBER_OFFSET:
            return None
        return int(digits) - ORDER_NUMBER_OFFSET

    @property
    def pays_in_store(self) -> bool:
        return bool(self.payment_method)

    @property
    def status(self) -> OrderStatus:
        """Derived from the lines (prefetch them), so it can never disagree with them."""
        lines = list(self.lines.all())
        if all(line.cancelled == line.quantity for line in lines):
            return OrderStatus.CANCELLED
        if all(line.settled for line in lines):
            return OrderStatus.SHIPPED
        if any(line.shipped for line in lines):
            return OrderStatus.PARTIALLY_SHIPPED
        if any(line.backordered for line in lines):
            return OrderStatus.BACKORDERED
        return OrderStatus.READY_TO_SHIP


class DatabaseNow(Now):
    """The database server's clock. On SQLite written with microseconds like the
    values Django writes, so that the stored text compares in time order."""

    def as_sqlite(self, compiler, connection, **extra_context):
        template = "STRFTIME('%%%%Y-%%%%m-%%%%d %%%%H:%%%%M:%%%%f000', 'NOW')"
        return self.as_sql(compiler, connection, template=template, **extra_context)


# Queue order: priority (higher first), then time queued, then id.
QUEUE_ORDER = (F("priority").desc(), F("queued_at").asc(), F("id").asc())


class OrderLineQuerySet(models.QuerySet):
    def backorder_queue(self, product_id: int) -> "OrderLineQuerySet":
        """The product's waiting back-orders in queue order."""
        return self.filter(product_id=product_id, backordered__gt=0).order_by(*QUEUE_ORDER)

    def ahead_of(self, line: "OrderLine | None" = None) -> "OrderLineQuerySet":
        """Waiting back-orders of the same product served before `line`; without a
        line, before the outer query's row (for a subquery over many lines)."""
        if line is None:
            product, priority, queued_at, pk = (
                OuterRef(name) for name in ("product_id", "priority", "queued_at", "pk")
            )
        else:
            product, priority, queued_at, pk = (
                line.product_id,
                line.priority,
                line.queued_at,
                line.pk,
            )
        return self.backorder_queue(product).filter(
            Q(priority__gt=priority)
            | Q(priority=priority, queued_at__lt=queued_at)
            | Q(priority=priority, queued_at=queued_at, pk__lt=pk)
        )


class OrderLine(models.Model):
    """One product in an order. Its units are always in exactly one state:
    quantity = allocated + backordered + shipped + cancelled (a database constraint).
    A line with backordered > 0 is a back-order waiting in its product's queue."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="order_lines")
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)
    # Off each unit that was back-ordered at placement (queued_units), fixed then and
    # kept when they are allocated; cancelled units take theirs with them.
    backorder_unit_discount = models.DecimalField(
        max_digits=10, decimal_places=2, default=Decimal("0.00"), editable=False
    )
    quantity = models.PositiveIntegerField()
    allocated = models.PositiveIntegerField(default=0)
    backordered = models.PositiveIntegerField(default=0)
    shipped = models.PositiveIntegerField(default=0)
    cancelled = models.PositiveIntegerField(default=0)
    # Units charged for and not refunded; shipped units that came back and were
    # refunded (a return). Paid units are in the customer's hands or allocated to them.
    paid = models.PositiveIntegerField(default=0, editable=False)
    returned = models.PositiveIntegerField(default=0, editable=False)
    # Units put on back-order at checkout, never changed: what the queue has served
    # is queued_units - backordered - cancelled, which lets check_inventory prove FIFO.
    queued_units = models.PositiveIntegerField(default=0, editable=False)
    priority = models.IntegerField(
        default=0, help_text="Queue priority: higher is served first. Staff-set."
    )
    # The database's clock, read under the product lock: commit order, on any machine.
    queued_at = models.DateTimeField(null=True, blank=True)
    reprioritized_at = models.DateTimeField(null=True, blank=True, editable=False)
    # When the queue served the last of its waiting units: the wait the dashboard's
    # median reads is this less queued_at.
    backorder_served_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The promise and the estimate (docs/decisions/0012): the date the store undertook
    # to ship the back-ordered units by, made at checkout and changed only with the
    # customer's consent; the current ETA from the queue and the confirmed inbounds
    # (kept by orders.promises), and the one the customer was last told.
    promised_by = models.DateField(null=True, blank=True, editable=False)
    eta = models.DateField(null=True, blank=True, editable=False)
    eta_told = models.DateField(null=True, blank=True, editable=False)
    eta_changed_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = OrderLineQuerySet.as_manager()

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="line_quantity_gte_1"),
            models.CheckConstraint(
                condition=Q(
                    quantity=F("allocated") + F("backordered") + F("shipped") + F("cancelled")
                ),
                name="line_units_add_up",
            ),
            models.CheckConstraint(
                condition=Q(backordered=0) | Q(queued_at__isnull=False),
                name="line_backorder_is_queued",
            ),
            models.CheckConstraint(
                condition=Q(queued_units=0) | Q(promised_by__isnull=False),
                name="line_backorder_is_promised",
            ),
            models.CheckConstraint(
                condition=Q(paid__lte=F("allocated") + F("shipped") - F("returned"))
                & Q(returned__lte=F("shipped")),
                name="line_paid_units_are_had",
            ),
        ]
        indexes = [
            models.Index(
                "product", *QUEUE_ORDER, condition=Q(backordered__gt=0), name="line_backorder_queue"
            ),
            models.Index(fields=["order"], condition=Q(allocated__gt=0), name="line_allocated"),
            models.Index(
                fields=["backorder_served_at"],
                condition=Q(backorder_served_at__isnull=False),
                name="line_backorder_served",
            ),
        ]

    def __str__(self) -> str:
        # The order as customers number it; the product is beside it wherever it shows.
        units = f"{self.quantity} unit{'s' if self.quantity != 1 else ''}"
        return f"{units} in order {ORDER_NUMBER_OFFSET + self.order_id}"

    @property
    def settled(self) -> bool:
        """Every unit shipped or cancelled: nothing left to do for this line."""
        return self.shipped + self.cancelled == self.quantity

    def units_value(self, first: int, count: int) -> Decimal:
        """What `count` of the line's units cost, counting from unit `first`, the
        units sold from stock at placement first and then the back-ordered ones (which
        carry the back-order discount). Charges go forward from paid + returned;
        returns are refunded from the start, the dearer units first."""
        in_stock = self.quantity - self.queued_units
        full = max(0, min(first + count, in_stock) - first)
        return self.unit_price * full + (self.unit_price - self.backorder_unit_discount) * (
            count - full
        )

    @property
    def kept(self) -> int:
        """Units the customer still buys: neither cancelled nor returned."""
        return self.quantity - self.cancelled - self.returned

    @property
    def line_total(self) -> Decimal:
        """What the units still bought cost: cancelled and returned units cost nothing
        (only waiting or unpaid allocated units are cancelled: back-ordered ones)."""
        return self.units_value(self.returned, self.kept)

    @property
    def discount(self) -> Decimal:
        """The back-order discount on the units still bought."""
        return self.unit_price * self.kept - self.line_total

    @property
    def unpaid_allocated(self) -> int:
        """Allocated units not yet charged for: what the next charge covers."""
        return self.allocated + self.shipped - self.returned - self.paid

    @property
    def paid_allocated(self) -> int:
        """Allocated units already paid for: what may ship now."""
        return self.allocated - self.unpaid_allocated

    @property
    def due(self) -> Decimal:
        """What is still to be charged for this line: its units not yet paid."""
        return self.units_value(self.paid + self.returned, self.kept - self.paid)

    @property
    def reference(self) -> str:
        """How the stock ledger names this line (see LINE_REFERENCE)."""
        return f"order {ORDER_NUMBER_OFFSET + self.order_id} line {self.pk}"


# Order.number and OrderLine.reference of an order line's row, computed in the
# database for set-based writes.
LINE_ORDER_NUMBER = Cast(F("order_id") + ORDER_NUMBER_OFFSET, CharField())
LINE_REFERENCE = Concat(
    Value("order "), LINE_ORDER_NUMBER, Value(" line "), Cast(F("id"), CharField())
)


class DelayNotice(models.Model):
    """The option notice of the FTC 30-day rule: the store can no longer ship a line's
    back-ordered units by their promise, so it tells the customer the revised date (or
    that there is none) and lets them wait or cancel for a full refund. The rows are the
    order's record of every delay, answer and automatic cancellation."""

    class Outcome(models.TextChoices):
        OPEN = "", "Waiting for the customer's answer"
        WAIT = "wait", "Customer chose to wait"
        CANCEL = "cancel", "Waiting units cancelled"
        SILENCE = "silence", "No answer: taken as consent to wait"
        AUTO_CANCELLED = "auto_cancelled", "No answer: waiting units cancelled and refunded"
        RESOLVED = "resolved", "Withdrawn: the units can ship by the promise again"
        SUPERSEDED = "superseded", "Replaced by a later notice"

    class DecidedBy(models.TextChoices):
        CUSTOMER = "customer", "Customer"
        STAFF = "staff", "Staff"
        STORE = "store", "The store, by its rules"

    line = models.ForeignKey(OrderLine, on_delete=models.CASCADE, related_name="delay_notices")
    created_at = models.DateTimeField(auto_now_add=True)
    promised_by = models.DateField(help_text="The promise this delay breaks.")
    revised_date = models.DateField(
        null=True, blank=True, help_text="The new ship-by date; empty when none is known."
    )
    units = models.PositiveIntegerField(help_text="Units waiting when the notice was sent.")
    needs_consent = models.BooleanField(
        help_text="Without an answer by the deadline the units are cancelled and refunded "
        "(otherwise silence counts as consent)."
    )
    answer_by = models.DateField()
    outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True, default="")
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.CharField(max_length=16, choices=DecidedBy.choices, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["line"], condition=Q(outcome=""), name="one_open_delay_notice_per_line"
            ),
        ]
        indexes = [
            models.Index(fields=["answer_by"], condition=Q(outcome=""), name="delay_notice_open"),
        ]

    def __str__(self) -> str:
        return f"Delay notice {self.pk} for line {self.line_id}"

    @property
    def is_open(self) -> bool:
        return self.outcome == self.Outcome.OPEN
