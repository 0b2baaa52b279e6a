import datetime
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import F
from django.utils import timezone

from backorders.management.commands.seed_demo import DEMO_ADMIN, DEMO_STAFF
from backorders.services import stock_receive
from catalog.models import Category, Inbound, Product, StockMovement
from catalog.policy import BackorderPolicy
from catalog.selectors import inbound_eta
from orders.models import Order, OrderLine
from orders.services import order_cancel_backorders, order_ship
from tests.factories import order_create, product_create


def run(command: str, *args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(command, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def days_from_today(days: int) -> str:
    return (timezone.localdate() + datetime.timedelta(days=days)).isoformat()


# receive_stock


@pytest.mark.django_db(transaction=True)  # the allocation task runs on a real commit
def test_receive_stock_allocates_waiting_backorders_in_queue_order():
    mug = product_create(sku="MUG")
    first = order_create({mug: 2}).lines.get()
    second = order_create({mug: 3}).lines.get()

    output, _ = run("receive_stock", "MUG", "4", "--reference", "PO-1")

    mug.refresh_from_db()
    first.refresh_from_db()
    second.refresh_from_db()
    assert (mug.on_hand, mug.allocated, mug.backordered) == (4, 4, 1)
    assert (first.allocated, first.backordered) == (2, 0)
    assert (second.allocated, second.backordered) == (2, 1)
    assert "on hand 4, allocated 4, available 0, waiting on back-order 1" in output
    receipt = StockMovement.objects.get(kind=StockMovement.Kind.RECEIPT)
    assert (receipt.on_hand_delta, receipt.reference) == (4, "PO-1")


def test_receive_stock_without_backorders_makes_units_available(kettle):
    output, _ = run("receive_stock", "KETTLE", "5")

    kettle.refresh_from_db()
    assert (kettle.on_hand, kettle.allocated) == (15, 0)
    assert "on hand 15, allocated 0, available 15, waiting on back-order 0" in output


def test_expected_date_records_inbound_and_later_receipt_closes_it(db):
    mug = product_create(sku="MUG")
    order_create({mug: 3})
    expected = days_from_today(10)

    output, _ = run("receive_stock", "MUG", "5", "--reference", "PO-7", "--expected-date", expected)

    inbound = Inbound.objects.get()
    assert (inbound.product, inbound.quantity, inbound.reference) == (mug, 5, "PO-7")
    assert inbound.expected_date.isoformat() == expected
    assert inbound.received_at is None
    assert expected in output
    mug.refresh_from_db()
    assert mug.on_hand == 0
    assert not StockMovement.objects.filter(kind=StockMovement.Kind.RECEIPT).exists()
    assert inbound_eta(product=mug, units=mug.backordered).isoformat() == expected

    run("receive_stock", "MUG", "2", "--reference", "OTHER")
    inbound.refresh_from_db()
    assert inbound.received_at is None

    run("receive_stock", "MUG", "5", "--reference", "PO-7")
    inbound.refresh_from_db()
    assert inbound.received_at is not None
    mug.refresh_from_db()
    assert mug.on_hand == 7


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["NOPE", "5"], "unknown SKU 'NOPE'"),
        (["KETTLE", "0"], "Units must be a whole number from 1 to 1,000,000"),
        (["KETTLE", "-3"], "quantity must be a whole number"),
        (["KETTLE", "abc"], "quantity must be a whole number"),
        (["KETTLE", "2.5"], "quantity must be a whole number"),
        (["KETTLE", "1000001"], "Units must be a whole number from 1 to 1,000,000"),
        (["KETTLE", "5", "--expected-date", "2030-02-30"], "must be YYYY-MM-DD"),
        (["KETTLE", "5", "--expected-date", "soon"], "must be YYYY-MM-DD"),
        (["KETTLE", "5", "--expected-date", "2031-1-1"], "must be YYYY-MM-DD"),
        (["KETTLE", "5", "--reference", "R" * 121], "at most 120 characters"),
    ],
)
def test_receive_stock_rejects_bad_input_and_changes_nothing(kettle, args, message):
    movements = StockMovement.objects.count()

    with pytest.raises(CommandError, match=message):
        run("receive_stock", *args)

    kettle.refresh_from_db()
    assert kettle.on_hand == 10
    assert StockMovement.objects.count() == movements
    assert not Inbound.objects.exists()


def test_receive_stock_rejects_past_expected_date(kettle):
    yesterday = days_from_today(-1)

    with pytest.raises(CommandError, match=f"{yesterday} is in the past"):
        run("receive_stock", "KETTLE", "5", "--expected-date", yesterday)

    kettle.refresh_from_db()
    assert kettle.on_hand == 10
    assert not Inbound.objects.exists()


# check_inventory


@pytest.fixture
def unchecked_constraints(db):
    """Let raw updates break CHECK constraints, as a corrupt database would be."""
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA ignore_check_constraints = ON")
        yield
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA ignore_check_constraints = OFF")
        return
    # PostgreSQL: drop them inside the test's transaction, which is rolled back after.
    with connection.cursor() as cursor:
        for model in (Product, OrderLine):
            for constraint in model._meta.constraints:
                cursor.execute(
                    f"ALTER TABLE {model._meta.db_table} DROP CONSTRAINT {constraint.name}"
                )
        for column in ("quantity", "allocated", "backordered", "shipped", "cancelled"):
            cursor.execute(
                f"ALTER TABLE {OrderLine._meta.db_table} DROP CONSTRAINT IF EXISTS "
                f"{OrderLine._meta.db_table}_{column}_check"
            )
    yield


@pytest.fixture
def waiting_lines(db):
    """A product with one unit received but not yet allocated and two waiting lines."""
    mug = product_create(sku="MUG")
    first = order_create({mug: 2}).lines.get()
    second = order_create({mug: 2}).lines.get()
    stock_receive(product=mug, quantity=1)  # its allocation task runs only after commit
    return mug, first, second


def check_fails() -> str:
    """Run check_inventory expecting a failure; return what it wrote to stderr."""
    err = StringIO()
    with pytest.raises(CommandError, match="invariant violation"):
        call_command("check_inventory", stdout=StringIO(), stderr=err)
    return err.getvalue()


def test_check_inventory_passes_after_real_flows(run_on_commit, kettle):
    mug = product_create(sku="MUG")
    shipped = order_create({kettle: 4, mug: 2})
    cancelled = order_create({mug: 3})
    run_on_commit(stock_receive, product=mug, quantity=3, reference="PO-1")
    order_ship(order=shipped)
    order_cancel_backorders(order=cancelled, line_ids=[cancelled.lines.get().pk])
    order_create({mug: 5})

    output, err = run("check_inventory")

    assert "Inventory is consistent" in output
    assert err == ""


def test_check_inventory_names_allocated_above_on_hand(unchecked_constraints, kettle):
    Product.objects.filter(pk=kettle.pk).update(allocated=F("on_hand") + 1)

    problems = check_fails()

    assert "invariant 1" in problems
    assert "KETTLE" in problems


def test_check_inventory_names_line_whose_units_do_not_add_up(unchecked_constraints, kettle):
    line = order_create({kettle: 3}).lines.get()
    OrderLine.objects.filter(pk=line.pk).update(quantity=4)

    problems = check_fails()

    assert "invariant 2" in problems
    assert f"line {line.pk} of KETTLE" in problems
    assert "invariant 1" not in problems


def test_check_inventory_names_counter_that_disagrees_with_ledger(kettle):
    Product.objects.filter(pk=kettle.pk).update(on_hand=F("on_hand") + 5)

    problems = check_fails()

    assert "invariant 3" in problems
    assert "KETTLE has on hand 15 (ledger 10)" in problems
    assert "invariant 1" not in problems


def test_check_inventory_names_backorder_served_out_of_turn(waiting_lines):
    mug, first, second = waiting_lines
    # Give the received unit to the later line, keeping counters and ledger consistent.
    OrderLine.objects.filter(pk=second.pk).update(allocated=1, backordered=1)
    Product.objects.filter(pk=mug.pk).update(allocated=1, backordered=3)
    StockMovement.objects.create(product=mug, kind="allocation", allocated_delta=1)

    problems = check_fails()

    assert "invariant 4" in problems
    assert f"line {first.pk} of MUG still waits" in problems
    assert "invariant 3" not in problems


def test_check_inventory_names_a_promise_passed_without_a_notice(kettle):
    line = order_create({kettle: 12}).lines.get()  # 2 wait, promised in 30 days
    OrderLine.objects.filter(pk=line.pk).update(
        promised_by=timezone.localdate() - datetime.timedelta(days=1)
    )

    problems = check_fails()

    assert f"order {line.order.number} waits for 2 × KETTLE past its promise" in problems


def test_check_inventory_accepts_serving_the_queue_head(waiting_lines):
    mug, first, _ = waiting_lines
    OrderLine.objects.filter(pk=first.pk).update(allocated=1, backordered=1)
    Product.objects.filter(pk=mug.pk).update(allocated=1, backordered=3)
    StockMovement.objects.create(product=mug, kind="allocation", allocated_delta=1)

    output, _ = run("check_inventory")

    assert "Inventory is consistent" in output


# seed_demo


def seeded_rows() -> tuple[int, int, int, int]:
    return (
        Product.objects.count(),
        Category.objects.count(),
        StockMovement.objects.count(),
        Inbound.objects.count(),
    )


def test_seed_demo_is_idempotent(db, settings):
    settings.DEBUG = True
    run("seed_demo")
    first_run = seeded_rows()
    on_hand = dict(Product.objects.values_list("sku", "on_hand"))

    run("seed_demo")

    products, categories, movements, inbounds = first_run
    assert (products, categories) == (14, 3)
    assert movements > 0 and inbounds > 0
    assert seeded_rows() == first_run
    assert dict(Product.objects.values_list("sku", "on_hand")) == on_hand
    assert get_user_model().objects.filter(username=DEMO_ADMIN[0]).count() == 1


def test_seed_demo_catalog_covers_every_policy(db):
    run("seed_demo")

    policies = set(Product.objects.values_list("backorder_policy", flat=True))
    assert set(BackorderPolicy.values) == policies
    assert all(
        product.backorder_limit > 0
        for product in Product.objects.filter(backorder_policy=BackorderPolicy.ALLOW_LIMITED)
    )
    assert Inbound.objects.filter(expected_date__gte=timezone.localdate()).exists()
    output, _ = run("check_inventory")
    assert "Inventory is consistent" in output


def test_seed_demo_creates_admin_and_orders_only_in_debug(db, settings):
    settings.DEBUG = False
    output, _ = run("seed_demo")

    assert not get_user_model().objects.exists()
    assert not Order.objects.exists()
    assert "no demo orders or admin account" in output

    settings.DEBUG = True
    run("seed_demo")
    assert Order.objects.count() == 3

    admin = get_user_model().objects.get(is_superuser=True)
    assert admin.username == DEMO_ADMIN[0]
    assert admin.is_staff
    assert admin.check_password(DEMO_ADMIN[1])
    # One staff user per role, in its group and nothing more.
    staff = get_user_model().objects.filter(is_superuser=False)
    assert {
        (user.username, user.is_staff, *user.groups.values_list("name", flat=True))
        for user in staff
    } == {(username, True, role) for username, role in DEMO_STAFF.items()}
    assert all(user.check_password(user.username) for user in staff)
