import pytest
from django.core import mail

from catalog.models import Product, StockMovement
from catalog.policy import BackorderPolicy
from notifications.models import OutboxEmail
from orders.exceptions import (
    BackorderNotAccepted,
    CartEmpty,
    NothingToCancel,
    NothingToShip,
    OrderError,
    OrderNotReady,
    PurchaseRefused,
)
from orders.models import Order, OrderLine, OrderStatus
from orders.services import (
    order_cancel_backorders,
    order_place,
    order_ship,
    order_shipping_preference_set,
)
from tests.factories import order_create, product_create

pytestmark = pytest.mark.django_db


def place(quantities, *, accepted=True, preference="ship_ready_now"):
    return order_place(
        quantities={product.pk: quantity for product, quantity in quantities.items()},
        email="shopper@example.com",
        name="Sam",
        shipping_address="1 Street",
        shipping_preference=preference,
        backorder_accepted=accepted,
    )


def counters(product):
    product.refresh_from_db()
    return product.on_hand, product.allocated, product.backordered


def test_all_in_stock_allocates_every_unit(run_on_commit):
    kettle = product_create(sku="KETTLE", on_hand=5)
    order = run_on_commit(place, {kettle: 3}, accepted=False)
    line = order.lines.get()
    assert (line.allocated, line.backordered, line.queued_at) == (3, 0, None)
    assert counters(kettle) == (5, 3, 0)
    assert order.status == OrderStatus.READY_TO_SHIP
    movement = StockMovement.objects.filter(product=kettle, kind="allocation").get()
    assert (movement.on_hand_delta, movement.allocated_delta) == (0, 3)
    email = OutboxEmail.objects.get(key=f"order-placed:{order.pk}")
    assert email.status == OutboxEmail.Status.SENT
    assert order.number in email.subject


def test_mixed_order_allocates_what_is_there_and_queues_the_rest(run_on_commit):
    kettle = product_create(sku="KETTLE", on_hand=2)
    grinder = product_create(sku="GRINDER", on_hand=0)
    order = run_on_commit(place, {kettle: 3, grinder: 1})
    lines = {line.product.sku: line for line in order.lines.select_related("product")}
    assert (lines["KETTLE"].allocated, lines["KETTLE"].backordered) == (2, 1)
    assert (lines["GRINDER"].allocated, lines["GRINDER"].backordered) == (0, 1)
    assert lines["KETTLE"].queued_units == 1
    assert counters(kettle) == (2, 2, 1)
    assert counters(grinder) == (0, 0, 1)
    assert order.status == OrderStatus.BACKORDERED
    (message,) = mail.outbox
    assert message.subject == f"Order {order.number} received (includes back-ordered items)"
    assert "1 on back-order, number 1 in the queue" in message.body
    assert "date not yet confirmed (usually 14 days)" in message.body


def test_all_back_ordered():
    grinder = product_create(sku="GRINDER")
    line = place({grinder: 4}).lines.get()
    assert (line.allocated, line.backordered, line.queued_units) == (0, 4, 4)
    assert line.queued_at is not None


def test_deny_refuses_naming_the_line_and_saves_nothing():
    filters = product_create(sku="FILTERS", name="Filters", on_hand=2, policy=BackorderPolicy.DENY)
    kettle = product_create(sku="KETTLE", on_hand=5)
    movements = StockMovement.objects.count()
    with pytest.raises(PurchaseRefused) as refused:
        place({kettle: 1, filters: 3})
    assert refused.value.problems == ["Filters has only 2 available; you asked for 3."]
    assert Order.objects.count() == 0
    assert StockMovement.objects.count() == movements
    assert counters(kettle) == (5, 0, 0)
    assert not OutboxEmail.objects.exists()


def test_allow_limited_refuses_past_the_limit():
    dripper = product_create(sku="DRIPPER", policy=BackorderPolicy.ALLOW_LIMITED, limit=3)
    place({dripper: 2})
    with pytest.raises(PurchaseRefused, match="has only 1 available"):
        place({dripper: 2})
    place({dripper: 1})
    assert counters(dripper) == (0, 0, 3)
    with pytest.raises(PurchaseRefused, match="is sold out"):
        place({dripper: 1})


def test_back_order_needs_acceptance():
    grinder = product_create(sku="GRINDER", name="Grinder")
    with pytest.raises(BackorderNotAccepted, match="Grinder"):
        place({grinder: 1}, accepted=False)
    assert not Order.objects.exists()


def test_empty_cart_is_refused():
    with pytest.raises(CartEmpty):
        order_place(quantities={}, email="a@example.com", name="A", shipping_address="x")


def test_new_order_does_not_take_stock_owed_to_the_queue():
    grinder = product_create(sku="GRINDER")
    first = place({grinder: 2})
    # Stock arrives, but the allocation task has not run yet (no on_commit here).
    from backorders.services import stock_receive

    stock_receive(product=grinder, quantity=2)
    later = place({grinder: 1})
    assert later.lines.get().backordered == 1
    assert first.lines.get().backordered == 2


def test_ship_ready_units_moves_stock_out():
    kettle = product_create(sku="KETTLE", on_hand=5)
    grinder = product_create(sku="GRINDER")
    order = order_create({kettle: 2, grinder: 1})
    assert order_ship(order=order) == 2
    assert counters(kettle) == (3, 0, 0)
    kettle_line = order.lines.get(product=kettle)
    assert (kettle_line.allocated, kettle_line.shipped) == (0, 2)
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PARTIALLY_SHIPPED
    with pytest.raises(NothingToShip):
        order_ship(order=order)


def test_ship_all_together_waits_for_back_orders():
    kettle = product_create(sku="KETTLE", on_hand=5)
    grinder = product_create(sku="GRINDER")
    order = order_create({kettle: 1, grinder: 1}, shipping_preference="ship_all_together")
    with pytest.raises(OrderNotReady):
        order_ship(order=order)
    assert counters(kettle) == (5, 1, 0)


def test_customer_cancels_back_ordered_units():
    kettle = product_create(sku="KETTLE", on_hand=1)
    order = order_create({kettle: 3})
    line = order.lines.get()
    assert order_cancel_backorders(order=order, line_ids=[line.pk]) == 2
    line.refresh_from_db()
    assert (line.allocated, line.backordered, line.cancelled) == (1, 0, 2)
    assert counters(kettle) == (1, 1, 0)
    with pytest.raises(NothingToCancel):
        order_cancel_backorders(order=order, line_ids=[line.pk])


def test_cancel_refuses_a_line_of_another_order():
    grinder = product_create(sku="GRINDER")
    mine, theirs = order_create({grinder: 1}), order_create({grinder: 1})
    with pytest.raises(NothingToCancel):
        order_cancel_backorders(order=mine, line_ids=[theirs.lines.get().pk])
    assert OrderLine.objects.filter(cancelled__gt=0).count() == 0
    assert Product.objects.get(pk=grinder.pk).backordered == 2


@pytest.mark.parametrize("quantity", [0, -2, 100])
def test_placement_refuses_a_quantity_outside_the_line_limit(kettle, quantity):
    with pytest.raises(PurchaseRefused, match="whole number from 1 to 99"):
        place({kettle: quantity})
    assert not Order.objects.exists() and StockMovement.objects.count() == 1


def test_an_unknown_shipping_preference_is_a_domain_error(kettle):
    order = place({kettle: 1})
    with pytest.raises(OrderError, match="Unknown shipping preference"):
        order_shipping_preference_set(order=order, preference="ship_by_pigeon")
    order.refresh_from_db()
    assert order.shipping_preference == "ship_ready_now"
