"""A back-order is the waiting part of an order line (see docs/decisions), so the queue
is shown to staff through proxies of other apps' rows; back-in-stock sign-ups are
this app's own."""

from django.db import models

from catalog.models import Inbound, Product
from orders.models import OrderLine


class ProductStock(Product):
    class Meta:
        proxy = True
        verbose_name = "product stock"
        verbose_name_plural = "product stock and receiving"
        permissions = [
            ("receive_stock", "Can receive stock, one product or a CSV of receipts"),
            ("view_dashboard", "Can see the back-order dashboard"),
        ]


class InboundShipment(Inbound):
    class Meta:
        proxy = True
        verbose_name = "inbound shipment"
        verbose_name_plural = "inbound shipments"


class QueuedBackorder(OrderLine):
    class Meta:
        proxy = True
        verbose_name = "queued back-order"
        verbose_name_plural = "back-order queue"
        permissions = [
            ("manage_queue", "Can move back-orders to the front, cancel them, allocate now"),
        ]


class BackInStockSignup(models.Model):
    """A shopper asked to hear when an unavailable product can be bought again."""

    product = models.ForeignKey(
        Product, on_delete=models.CASCADE, related_name="back_in_stock_signups"
    )
    email = models.EmailField()
    created_at = models.DateTimeField(auto_now_add=True)
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["product", "email"],
                condition=models.Q(notified_at=None),
                name="one_open_signup_per_email",
            )
        ]
        indexes = [
            models.Index(
                fields=["product", "created_at", "id"],
                condition=models.Q(notified_at=None),
                name="signup_waiting_in_order",
            )
        ]

    def __str__(self) -> str:
        return f"{self.email} for {self.product_id}"
