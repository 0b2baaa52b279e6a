from decimal import ROUND_HALF_UP, Decimal

from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import F, Q, Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property

from catalog.policy import BackorderPolicy, PurchasePolicy


class Category(models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    sku = models.CharField("SKU", max_length=64, unique=True)
    slug = models.SlugField(max_length=140, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    image = models.ImageField(upload_to="products/", blank=True)
    image_alt = models.CharField(
        "image description",
        max_length=200,
        blank=True,
        help_text="What the picture shows, for shoppers who cannot see it (alt text).",
    )
    # The catalog's picture, made from `image` once by catalog.services.product_image_set
    # (easy-thumbnails), so a page reads its size from the row instead of the disk.
    thumbnail = models.CharField(max_length=255, blank=True, editable=False)
    thumbnail_width = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    thumbnail_height = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="products")
    price = models.DecimalField(max_digits=10, decimal_places=2)
    backorder_policy = models.CharField(
        max_length=16, choices=BackorderPolicy.choices, default=BackorderPolicy.ALLOW
    )
    backorder_limit = models.PositiveIntegerField(
        default=0, help_text="Most units open on back-order at once (allow_limited only)."
    )
    lead_time_days = models.PositiveIntegerField(
        default=14, help_text="Usual days from supplier order to arrival; a hint, not a promise."
    )
    backorder_discount_percent = models.PositiveSmallIntegerField(
        "back-order discount (%)",
        default=0,
        help_text="Off the price of units bought on back-order, an incentive to wait (0–90).",
        validators=[MaxValueValidator(90)],
    )
    alternatives = models.ManyToManyField(
        "self",
        symmetrical=False,
        blank=True,
        related_name="alternative_to",
        help_text="Suggested to shoppers while this one is back-ordered or sold out, when "
        "they are in stock.",
    )
    # Stock counters. Only catalog.services changes them, under a row lock, with F().
    on_hand = models.IntegerField(default=0, editable=False)
    allocated = models.IntegerField(default=0, editable=False)
    # Units waiting on back-order, kept beside the stock counters under the same row
    # lock so the allow_limited check and the restock sweep need no cross-app query.
    backordered = models.IntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(allocated__gte=0), name="product_allocated_gte_0"),
            models.CheckConstraint(
                condition=Q(allocated__lte=F("on_hand")), name="product_allocated_lte_on_hand"
            ),
            models.CheckConstraint(
                condition=Q(backordered__gte=0), name="product_backordered_gte_0"
            ),
            models.CheckConstraint(condition=Q(price__gte=0), name="product_price_gte_0"),
            models.CheckConstraint(
                condition=Q(backorder_discount_percent__lte=90),
                name="product_backorder_discount_lte_90",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.sku})"

    def get_absolute_url(self) -> str:
        return reverse("catalog:product", kwargs={"slug": self.slug})

    @property
    def backorder_unit_discount(self) -> Decimal:
        """What a back-ordered unit costs less, to the cent."""
        discount = self.price * self.backorder_discount_percent / 100
        return discount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)

    @property
    def available(self) -> int:
        return self.on_hand - self.allocated

    @cached_property
    def inbound_supply(self) -> int:
        """Units of the product's open inbounds that still carry a date (a selector may
        annotate it instead, for many products at once)."""
        return (
            Inbound.objects.confirmed()
            .filter(product=self)
            .aggregate(units=Sum("quantity", default=0))["units"]
        )

    @property
    def purchase_policy(self) -> PurchasePolicy:
        policy = BackorderPolicy(self.backorder_policy)
        return PurchasePolicy(
            policy=policy,
            available=self.available,
            waiting=self.backordered,
            limit=self.backorder_limit,
            # Only this policy needs it: no query for the others.
            inbound=self.inbound_supply if policy == BackorderPolicy.ALLOW_INBOUND else 0,
        )


class StockMovement(models.Model):
    """Append-only stock ledger. Each row says how one event moved the counters:
    on_hand equals the sum of on_hand_delta and allocated the sum of allocated_delta."""

    class Kind(models.TextChoices):
        RECEIPT = "receipt", "Receipt"
        SHIPMENT = "shipment", "Shipment"
        ALLOCATION = "allocation", "Allocation"

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="movements")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    on_hand_delta = models.IntegerField(default=0)
    allocated_delta = models.IntegerField(default=0)
    reference = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(on_hand_delta=0, allocated_delta=0), name="movement_moves_something"
            ),
        ]
        # An order's timeline reads its lines' rows by reference.
        indexes = [models.Index(fields=["reference"], name="movement_by_reference")]

    def __str__(self) -> str:
        deltas = f"on hand {self.on_hand_delta:+}, allocated {self.allocated_delta:+}"
        return f"{self.get_kind_display()} of product {self.product_id}: {deltas}"


OPEN_INBOUND = Q(received_at__isnull=True, cancelled_at__isnull=True)


class InboundQuerySet(models.QuerySet):
    def open(self) -> "InboundQuerySet":
        """Neither received nor cancelled."""
        return self.filter(OPEN_INBOUND)

    def confirmed(self) -> "InboundQuerySet":
        """Open and not yet overdue, in the order they will arrive: the supply an ETA
        may rest on. One past its date promises nothing until staff re-date it."""
        return (
            self.open()
            .filter(expected_date__gte=timezone.localdate())
            .order_by("expected_date", "pk")
        )


class Inbound(models.Model):
    """A confirmed incoming shipment: the only source of a promised date (ETA)."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="inbounds")
    quantity = models.PositiveIntegerField()
    expected_date = models.DateField()
    reference = models.CharField(
        max_length=120, blank=True, help_text="The supplier's reference: names the inbound."
    )
    received_at = models.DateTimeField(null=True, blank=True, editable=False)
    cancelled_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = InboundQuerySet.as_manager()

    class Meta:
        ordering = ["expected_date", "pk"]
        indexes = [
            models.Index(
                fields=["product", "expected_date"],
                condition=OPEN_INBOUND,
                name="inbound_open_by_date",
            )
        ]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="inbound_quantity_gte_1"),
            # Commands and staff name an open inbound by its reference.
            models.UniqueConstraint(
                fields=["reference"],
                condition=OPEN_INBOUND & ~Q(reference=""),
                name="inbound_open_reference_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference or 'Inbound'}: {self.quantity} expected {self.expected_date}"

    @property
    def is_open(self) -> bool:
        return self.received_at is None and self.cancelled_at is None
