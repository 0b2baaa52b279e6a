"""Real concurrent transactions on PostgreSQL (SQLite ignores SELECT ... FOR UPDATE)."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from backorders.selectors import inventory_problems
from backorders.services import backorders_allocate, stock_receive
from catalog.models import Product
from catalog.policy import BackorderPolicy
from orders.exceptions import PurchaseRefused
from orders.models import Order, OrderLine
from orders.services import order_place
from tests.factories import order_create, product_create

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def concurrently(function, times: int) -> list:
    """Run function() `times` times at once, each in its own thread and connection."""
    start = threading.Barrier(times)

    def run(_):
        start.wait()
        try:
            return function()
        except Exception as error:  # the outcome under test
            return error
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=times) as pool:
        return list(pool.map(run, range(times)))


def buy(product: Product):
    return lambda: order_place(
        quantities={product.pk: 1},
        email="racer@example.com",
        name="Racer",
        shipping_address="1 Race Road",
        backorder_accepted=True,
    )


def test_deny_product_never_oversells():
    product = product_create(sku="FILTERS", on_hand=10, policy=BackorderPolicy.DENY)
    outcomes = concurrently(buy(product), 40)
    refused = [o for o in outcomes if isinstance(o, PurchaseRefused)]
    assert len(outcomes) - len(refused) == 10
    assert all("is not available" in error.message for error in refused)
    product.refresh_from_db()
    assert (product.on_hand, product.allocated) == (10, 10)
    assert inventory_problems() == []


def test_allow_product_queues_the_rest_in_commit_order():
    product = product_create(sku="KETTLE", on_hand=10)
    outcomes = concurrently(buy(product), 40)
    assert not [o for o in outcomes if isinstance(o, Exception)]
    lines = OrderLine.objects.filter(product=product)
    assert sum(line.allocated for line in lines) == 10
    queue = list(OrderLine.objects.backorder_queue(product.pk))
    assert len(queue) == 30
    # Ids are drawn and queue times read under the product lock: both follow commit order.
    assert [line.pk for line in queue] == sorted(line.pk for line in queue)
    assert [line.queued_at for line in queue] == sorted(line.queued_at for line in queue)
    assert inventory_problems() == []


def test_two_workers_allocating_one_product_never_give_a_unit_twice(monkeypatch):
    product = product_create(sku="GRINDER")
    for _ in range(30):
        order_create({product: 1})
    # Receive without publishing the allocation task: the two "workers" below do it.
    monkeypatch.setattr("backorders.services.enqueue_on_commit", lambda *args: None)
    stock_receive(product=product, quantity=17)
    units = concurrently(lambda: backorders_allocate(product_id=product.pk, batch_size=4), 2)
    assert sum(units) == 17
    product.refresh_from_db()
    assert (product.allocated, product.backordered) == (17, 13)
    assert inventory_problems() == []


def test_two_workers_delivering_the_same_emails_send_each_once(monkeypatch):
    from django.core import mail

    from notifications.models import OutboxEmail
    from notifications.services import emails_deliver

    product = product_create(sku="KETTLE", on_hand=50)
    monkeypatch.setattr("notifications.services.enqueue_on_commit", lambda *args: None)
    for _ in range(12):
        buy(product)()
    email_ids = list(OutboxEmail.objects.values_list("pk", flat=True))
    mail.outbox.clear()
    reports = concurrently(lambda: emails_deliver(email_ids=email_ids), 4)
    assert sorted(pk for report in reports for pk in report.sent) == sorted(email_ids)
    keys = [message.extra_headers["X-Outbox-Key"] for message in mail.outbox]
    assert len(keys) == len(set(keys)) == 12


def test_restock_checkout_cancel_and_ship_racing_never_deadlock():
    """Mixed writers on the same three products, each taking its locks in pk order."""
    import random

    from orders.exceptions import OrderError
    from orders.services import order_cancel_backorders, order_ship

    products = [product_create(sku=f"P{n}", on_hand=3) for n in range(3)]
    for _ in range(6):
        order_create({product: 1 for product in products})
    orders = list(Order.objects.prefetch_related("lines"))
    chooser = random.Random(7)

    def one_of_each():
        action = chooser.choice(["buy", "restock", "cancel", "ship", "allocate"])
        try:
            if action == "buy":
                picked = chooser.sample(products, 2)
                order_place(
                    quantities={p.pk: 1 for p in reversed(picked)},
                    email="racer@example.com",
                    name="Racer",
                    shipping_address="1 Race Road",
                    backorder_accepted=True,
                )
            elif action == "restock":
                stock_receive(product=chooser.choice(products), quantity=2)
            elif action == "cancel":
                order = chooser.choice(orders)
                order_cancel_backorders(
                    order=order, line_ids=[line.pk for line in order.lines.all()]
                )
            elif action == "ship":
                order_ship(order=chooser.choice(orders))
            else:
                backorders_allocate(product_id=chooser.choice(products).pk, batch_size=2)
        except OrderError:
            return action  # a refusal the user is shown, not an error
        return action

    outcomes = []
    for _ in range(4):
        outcomes += concurrently(one_of_each, 16)
    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert errors == []  # no deadlock or serialisation error reached anyone
    assert inventory_problems() == []
