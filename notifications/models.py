from django.db import models
from django.utils import timezone


class OutboxEmail(models.Model):
    """One customer email, written in the same transaction as the event it tells of.

    `key` names the event (e.g. "order-placed:42"): a second write of the same event
    is a no-op. The row keeps the facts (`context`); it is rendered from the templates
    `notifications/<event>*` when sent, and a row is claimed before sending, so each
    email goes out once.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    key = models.CharField(max_length=200, unique=True)
    event = models.CharField(max_length=64)
    to_email = models.EmailField()
    context = models.JSONField(default=dict)
    subject = models.CharField(max_length=255, blank=True, help_text="As sent.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "email"
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status="pending"),
                name="outbox_pending_by_due_time",
            ),
            models.Index(
                fields=["claimed_at"],
                condition=models.Q(status="sending"),
                name="outbox_claimed",
            ),
            # An order's timeline and staff's search read a customer's emails.
            models.Index(fields=["to_email", "created_at"], name="outbox_by_recipient"),
        ]

    def __str__(self) -> str:
        return f"{self.event} to {self.to_email} ({self.status})"
