from decimal import Decimal

from django.db import models
from django.db.models import Q


class Payment(models.Model):
    """One money movement with the provider, charge or refund: what was charged is a
    query over these rows, never a guess. The row is claimed (pending, under its
    event's unique key) before the provider is called, so a retried task or a second
    request never moves the money twice; the outcome is recorded after the call.

    The row points at its order for joins and the admin; the payments code itself knows
    nothing of orders (docs/decisions/0013-charge-what-ships.md)."""

    class Kind(models.TextChoices):
        CHARGE = "charge", "Charge"
        REFUND = "refund", "Refund"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    # Empty only between a checkout charge and its order's commit, and for a checkout
    # charge whose order was never placed (refunded at once).
    order = models.ForeignKey(
        "orders.Order", null=True, blank=True, on_delete=models.PROTECT, related_name="payments"
    )
    kind = models.CharField(max_length=8, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    # The event: "checkout:…", "charge:…", "refund:…". The provider gets key#pk, so a
    # fresh claim after a declined card is a fresh call.
    key = models.CharField(max_length=200, unique=True)
    # What the money is for: {order line id: units}.
    units = models.JSONField(default=dict, blank=True)
    refund_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="refunds"
    )
    customer = models.CharField(max_length=100, blank=True, help_text="The provider's customer id.")
    method = models.CharField(max_length=100, blank=True, help_text="The provider's method id.")
    card_last4 = models.CharField(max_length=4, blank=True)
    off_session = models.BooleanField(default=False)
    provider = models.CharField(max_length=16)
    provider_id = models.CharField(max_length=100, blank=True)
    error = models.CharField(max_length=300, blank=True)
    reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=Decimal("0")), name="payment_amount_gt_0"
            ),
            models.CheckConstraint(
                condition=Q(kind="charge") | Q(refund_of__isnull=False), name="refund_names_charge"
            ),
        ]
        indexes = [
            models.Index(
                fields=["created_at"], condition=Q(status="pending"), name="payment_pending"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount} {self.currency.upper()} ({self.status})"

    @property
    def idempotency_key(self) -> str:
        return f"{self.key}#{self.pk}"
