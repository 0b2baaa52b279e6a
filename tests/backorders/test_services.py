import pytest
from django.core import mail

from backorders.selectors import inventory_problems, products_needing_allocation
from backorders.services import backorders_allocate, stock_receive
from backorders.tasks import backorders_sweep
from catalog.models import Inbound, StockMovement
from notifications.models import OutboxEmail
from notifications.rendering import email_render
from orders.models import OrderLine
from orders.services import order_lines_move_to_front
from tests.factories import order_create, product_create

pytestmark = pytest.mark.django_db


def waiting(order):
    return [(line.allocated, line.backordered) for line in order.lines.order_by("pk")]


def test_restock_fills_the_queue_in_order_with_a_partial_head(run_on_commit):
    grinder = product_create(sku="GRINDER")
    first, second, third = (
        order_create({grinder: n}, email=f"{i}@example.com") for i, n in enumerate([2, 3, 1])
    )
    run_on_commit(stock_receive, product=grinder, quantity=4, reference="PO-1")
    assert waiting(first) == [(2, 0)]
    assert waiting(second) == [(2, 1)]  # the head is filled partially
    assert waiting(third) == [(0, 1)]  # and nobody behind it gets anything
    grinder.refresh_from_db()
    assert (grinder.on_hand, grinder.allocated, grinder.backordered) == (4, 4, 2)
    served = OutboxEmail.objects.filter(event="backorder_allocated")
    assert sorted(served.values_list("to_email", flat=True)) == ["0@example.com", "1@example.com"]
    assert inventory_problems() == []


def test_a_line_moved_to_the_front_goes_first_then_time_queued():
    grinder = product_create(sku="GRINDER")
    early, late = order_create({grinder: 1}), order_create({grinder: 1})
    order_lines_move_to_front(line_ids=[late.lines.get().pk])
    stock_receive(product=grinder, quantity=1)
    backorders_allocate(product_id=grinder.pk)
    assert waiting(late) == [(1, 0)]
    assert waiting(early) == [(0, 1)]


def test_allocation_runs_in_batches_and_a_rerun_changes_nothing():
    grinder = product_create(sku="GRINDER")
    orders = [order_create({grinder: 1}) for _ in range(7)]
    stock_receive(product=grinder, quantity=5)
    assert backorders_allocate(product_id=grinder.pk, batch_size=2) == 5
    assert [waiting(order)[0] for order in orders] == [(1, 0)] * 5 + [(0, 1)] * 2
    movements = StockMovement.objects.count()
    emails = OutboxEmail.objects.count()
    assert backorders_allocate(product_id=grinder.pk, batch_size=2) == 0
    assert (StockMovement.objects.count(), OutboxEmail.objects.count()) == (movements, emails)


def test_one_email_per_order_per_fill_even_with_several_lines():
    grinder = product_create(sku="GRINDER")
    scale = product_create(sku="SCALE")
    order = order_create({grinder: 1, scale: 2})
    stock_receive(product=scale, quantity=2)
    mail.outbox.clear()
    backorders_allocate(product_id=scale.pk)
    email = OutboxEmail.objects.get(event="backorder_allocated")
    assert len(mail.outbox) == 0  # delivery is published on commit, not inside the fill
    text = email_render(event=email.event, context=email.context).text
    assert "2 × Scale" in text
    assert "They will ship now." in text
    assert f"http://testserver/orders/{order.token}/" in text


def test_receipt_with_an_inbound_reference_closes_the_inbound(run_on_commit):
    grinder = product_create(sku="GRINDER")
    inbound = Inbound.objects.create(
        product=grinder, quantity=5, expected_date="2099-01-01", reference="PO-9"
    )
    run_on_commit(stock_receive, product=grinder, quantity=5, reference="PO-9")
    inbound.refresh_from_db()
    assert inbound.received_at is not None


def test_sweep_finds_stock_that_a_lost_task_left_unallocated():
    grinder = product_create(sku="GRINDER")
    order = order_create({grinder: 1})
    stock_receive(product=grinder, quantity=1)  # its task is never published here
    assert products_needing_allocation() == [grinder.pk]
    assert backorders_sweep() == 1  # eager: the sweep's task runs now
    assert waiting(order) == [(1, 0)]
    assert products_needing_allocation() == []


def test_fifo_check_catches_a_line_served_out_of_turn():
    grinder = product_create(sku="GRINDER")
    order_create({grinder: 1})
    late = order_create({grinder: 1})
    OrderLine.objects.filter(order=late).update(allocated=1, backordered=0)
    assert any(problem.startswith("invariant 4") for problem in inventory_problems())


def test_check_names_emails_left_unsent_for_hours():
    import datetime

    from django.utils import timezone

    grinder = product_create(sku="GRINDER")
    order_create({grinder: 1})
    assert inventory_problems() == []
    OutboxEmail.objects.update(
        status=OutboxEmail.Status.PENDING,
        next_attempt_at=timezone.now() - datetime.timedelta(hours=3),
    )
    (problem,) = inventory_problems()
    assert problem.startswith("invariant 5") and "1 email(s) overdue" in problem
