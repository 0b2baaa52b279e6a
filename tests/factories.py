"""Small builders that make data through the real services where stock is involved."""

import datetime
from decimal import Decimal

from django.db import transaction
from django.test import TestCase
from django.utils import timezone

from backorders.services import stock_receive
from catalog.cache import catalog_bump_on_commit
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
    with TestCase.captureOnCommitCallbacks(execute=True):
        catalog_bump_on_commit()  # as adding it in the admin does
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


# The card fields of a paying form, with the test provider's card that succeeds.
CARD = {"card_number": "4242 4242 4242 4242", "card_expiry": "12/39", "card_cvc": "123"}


def order_checkout_create(
    quantities: dict[Product, int],
    *,
    card_number: str = CARD["card_number"],
    card=None,
    email: str = "shopper@example.com",
    shipping_preference: str = "ship_ready_now",
) -> Order:
    """Check out as the checkout page does: pay for what is in stock, save the card."""
    from orders.billing import order_checkout
    from orders.selectors import cart_lines
    from payments.providers import CardInput

    by_pk = {product.pk: quantity for product, quantity in quantities.items()}
    with TestCase.captureOnCommitCallbacks(execute=True):
        return order_checkout(
            quantities=by_pk,
            card=card or CardInput(number=card_number),
            charge_now=sum(line.charge_now for line in cart_lines(quantities=by_pk)),
            email=email,
            name="Sam Shopper",
            shipping_address="1 Queue Street\nFifo Town",
            shipping_preference=shipping_preference,
            backorder_accepted=True,
        )
