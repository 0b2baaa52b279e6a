"""Small builders that make data through the real services where stock is involved."""

import datetime
from decimal import Decimal

from django.db import transaction
from django.test import TestCase
from django.utils import timezone

from backorders.services import stock_receive
from catalog.models import Category, Product
from catalog.policy import BackorderPolicy
from catalog.selectors import promise_date
from catalog.services import products_lock, stock_backorder
from orders.models import Order, OrderLine
from orders.services import order_place


def product_create(
    *,
    sku: str,
    name: str | None = None,
    on_hand: int = 0,
    policy: str = BackorderPolicy.ALLOW,
    limit: int = 0,
    price: str = "10.00",
    category: str = "General",
    lead_time_days: int = 14,
) -> Product:
    category_obj, _ = Category.objects.get_or_create(
        name=category, defaults={"slug": category.lower().replace(" ", "-")}
    )
    product = Product.objects.create(
        sku=sku,
        slug=sku.lower(),
        name=name or sku.title(),
        category=category_obj,
        price=Decimal(price),
        backorder_policy=policy,
        backorder_limit=limit,
        lead_time_days=lead_time_days,
    )
    if on_hand:
        stock_receive(product=product, quantity=on_hand, reference="opening stock")
        product.refresh_from_db()
    return product


def order_create(
    quantities: dict[Product, int],
    *,
    email: str = "shopper@example.com",
    shipping_preference: str = "ship_ready_now",
) -> Order:
    """Place an order through the real service, accepting any back-order."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return order_place(
            quantities={product.pk: quantity for product, quantity in quantities.items()},
            email=email,
            name="Sam Shopper",
            shipping_address="1 Queue Street\nFifo Town",
            shipping_preference=shipping_preference,
            backorder_accepted=True,
        )


def backorders_bulk_create(
    product: Product, count: int, *, batch_size: int | None = None
) -> list[Order]:
    """`count` one-unit orders waiting for `product`, as placement would leave them but
    written set-based, for tests and benchmarks that need a long queue."""
    orders = Order.objects.bulk_create(
        (
            Order(
                email=f"queued{i}@example.com",
                name=f"Shopper {i}",
                shipping_address="1 Queue Street",
                backorder_accepted=True,
            )
            for i in range(count)
        ),
        batch_size=batch_size,
    )
    start = timezone.now()
    promise = promise_date(None)
    OrderLine.objects.bulk_create(
        (
            OrderLine(
                order=order,
                product=product,
                unit_price=product.price,
                quantity=1,
                backordered=1,
                queued_units=1,
                queued_at=start + datetime.timedelta(microseconds=i),
                promised_by=promise,
            )
            for i, order in enumerate(orders)
        ),
        batch_size=batch_size,
    )
    with transaction.atomic():
        stock_backorder(product=products_lock(product_ids=[product.pk])[product.pk], units=count)
    return orders
