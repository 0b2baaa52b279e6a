"""Real concurrent transactions on PostgreSQL (SQLite ignores SELECT ... FOR UPDATE)."""

import datetime
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, transaction

import orders.services as orders_services
from backorders.selectors import inventory_problems
from backorders.services import (
    backorders_allocate,
    inbound_announce,
    inbound_revise,
    stock_receive,
)
from catalog.models import Product
from catalog.policy import BackorderPolicy
from orders.exceptions import PurchaseRefused
from orders.models import DelayNotice, Order, OrderLine
from orders.services import order_place
from tests.factories import order_create, product_create

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def concurrently(function, times: int) -> list:
    """Run function() `times` times at once, each in its own thread and connection."""
    return concurrently_each([function] * times)


def concurrently_each(functions: list) -> list:
    """Run each function at once, each in its own thread and connection; return each
    one's result or the exception it raised."""
    start = threading.Barrier(len(functions))

    def run(function):
        start.wait()
        try:
            return function()
        except Exception as error:  # the outcome under test
            return error
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(functions)) as pool:
        return list(pool.map(run, functions))


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
    assert all("is sold out" in error.message for error in refused)
    product.refresh_from_db()
    assert (product.on_hand, product.allocated) == (10, 10)
    assert inventory_problems() == []


def test_allow_inbound_never_back_orders_beyond_confirmed_supply():
    product = product_create(sku="TENT", on_hand=4, policy=BackorderPolicy.ALLOW_INBOUND)
    inbound_announce(
        product=product,
        quantity=10,
        expected_date=datetime.date.today() + datetime.timedelta(days=9),
        reference="PO-TENT",
    )
    outcomes = concurrently(buy(product), 40)
    refused = [o for o in outcomes if isinstance(o, PurchaseRefused)]
    assert len(outcomes) - len(refused) == 14  # 4 in stock, 10 dated by the inbound
    product.refresh_from_db()
    assert (product.allocated, product.backordered) == (4, 10)
    queue = OrderLine.objects.backorder_queue(product.pk)
    assert {line.eta for line in queue} == {datetime.date.today() + datetime.timedelta(days=9)}
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
    from orders.services import (
        order_cancel_backorders,
        order_lines_cancel_by_staff,
        order_ship,
        orders_ship,
    )

    products = [product_create(sku=f"P{n}", on_hand=3) for n in range(3)]
    for _ in range(6):
        order_create({product: 1 for product in products})
    orders = list(Order.objects.prefetch_related("lines"))
    chooser = random.Random(7)

    def one_of_each():
        action = chooser.choice(
            ["buy", "restock", "cancel", "ship", "allocate", "staff-ship", "staff-cancel"]
        )
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
            elif action == "staff-ship":  # several orders, several products, one transaction
                orders_ship(orders=chooser.sample(orders, 3))
            elif action == "staff-cancel":
                picked = chooser.sample(orders, 3)
                line_ids = [line.pk for order in picked for line in order.lines.all()]
                order_lines_cancel_by_staff(line_ids=line_ids, reason="Discontinued.")
            else:
                backorders_allocate(product_id=chooser.choice(products).pk, batch_size=2)
        except OrderError:
            return action  # a refusal the user is shown, not an error
        return action

    outcomes = []
    for _ in range(6):
        outcomes += concurrently(one_of_each, 16)
    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert errors == []  # no deadlock or serialisation error reached anyone
    assert inventory_problems() == []


@pytest.mark.parametrize("staff_action", ["ship", "cancel"])
def test_staff_actions_over_several_orders_lock_products_in_pk_order(staff_action):
    """A checkout holds product 1 and is about to lock product 2, while staff act on an
    order of product 2 and an order of product 1 in one transaction. Locking order by
    order would take 2 then wait on 1: a deadlock. Locking all products first, in pk
    order, waits on 1 without holding 2."""
    import time

    from catalog.services import products_lock
    from orders.services import order_lines_cancel_by_staff, orders_ship

    first, second = product_create(sku="P1", on_hand=1), product_create(sku="P2", on_hand=1)
    on_second = order_create({second: 2})  # the older order, so staff reach it first
    on_first = order_create({first: 2})
    checkout_holds_first, staff_started = threading.Event(), threading.Event()

    def checkout():
        with transaction.atomic():
            products_lock(product_ids=[first.pk])
            checkout_holds_first.set()
            staff_started.wait(5)
            time.sleep(0.5)  # let staff reach their lock wait
            products_lock(product_ids=[second.pk])

    def staff():
        checkout_holds_first.wait(5)
        staff_started.set()
        if staff_action == "ship":
            orders_ship(orders=[on_second, on_first])
        else:
            line_ids = [on_second.lines.get().pk, on_first.lines.get().pk]
            order_lines_cancel_by_staff(line_ids=line_ids, reason="Discontinued.")

    outcomes = concurrently_each([checkout, staff])
    assert [o for o in outcomes if isinstance(o, Exception)] == []
    assert inventory_problems() == []


def test_answering_a_delay_while_the_same_products_sell_cannot_deadlock(monkeypatch):
    """The answer locks every product of the order first, in pk order, as a checkout
    does; cancelling then takes nothing out of turn."""
    mug = product_create(sku="MUG", on_hand=5)
    grinder = product_create(sku="GRINDER")  # the higher pk, the delayed line
    inbound = inbound_announce(
        product=grinder,
        quantity=5,
        expected_date=datetime.date.today() + datetime.timedelta(days=5),
        reference="PO-G",
    )
    order = order_create({mug: 1, grinder: 1})
    inbound_revise(
        inbound=inbound, expected_date=datetime.date.today() + datetime.timedelta(days=60)
    )
    notice = DelayNotice.objects.get()
    cancel = orders_services.order_cancel_backorders

    def cancel_slowly(**kwargs):
        time.sleep(0.5)  # a checkout of both products arrives meanwhile
        return cancel(**kwargs)

    monkeypatch.setattr(orders_services, "order_cancel_backorders", cancel_slowly)

    def answer():
        return orders_services.delay_notice_answer(
            order=order, notice_id=notice.pk, answer="cancel"
        )

    def checkout():
        time.sleep(0.2)
        return order_place(
            quantities={mug.pk: 1, grinder.pk: 1},
            email="racer@example.com",
            name="Racer",
            shipping_address="1 Race Road",
            backorder_accepted=True,
        )

    answered, placed = concurrently_each([answer, checkout])
    assert isinstance(answered, DelayNotice) and answered.outcome == "cancel", answered
    assert isinstance(placed, Order), placed
    assert inventory_problems() == []
