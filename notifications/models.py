from django.db import models


class OutboxEmail(models.Model):
    """One customer email, written in the same transaction as the event it tells of.

    `key` names the event (e.g. "order-placed:42"): a second write of the same event
    is a no-op, and a row is claimed before sending, so each email goes out once.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    key = models.CharField(max_length=200, unique=True)
    event = models.CharField(max_length=64)
    to_email = models.EmailField()
    subject = models.CharField(max_length=255)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "email"
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=models.Q(status__in=["pending", "sending"]),
                name="outbox_unsent_by_age",
            )
        ]

    def __str__(self) -> str:
        return f"{self.event} to {self.to_email} ({self.status})"
