"""Staff views of other apps' rows; this app owns no tables of its own (a back-order is
the waiting part of an order line, see docs/decisions)."""

from catalog.models import Product
from orders.models import OrderLine


class ProductStock(Product):
    class Meta:
        proxy = True
        verbose_name = "product stock"
        verbose_name_plural = "product stock and receiving"


class QueuedBackorder(OrderLine):
    class Meta:
        proxy = True
        verbose_name = "queued back-order"
        verbose_name_plural = "back-order queue"
