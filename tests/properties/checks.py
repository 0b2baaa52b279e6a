"""What every property asserts: no server error, and a refused input changes nothing."""

from backorders.models import BackInStockSignup
from backorders.selectors import inventory_problems
from catalog.models import Category, Inbound, Product, StockMovement
from notifications.models import OutboxEmail
from orders.models import DelayNotice, Order, OrderLine
from payments.models import Payment
from tests.conftest import GENERATED_CASES

DOMAIN = [Category, Product, StockMovement, Inbound, Order, OrderLine, OutboxEmail, Payment]


def case(name: str) -> None:
    """Count one generated case of the property `name` (printed at the end of the run)."""
    GENERATED_CASES["count"] += 1
    GENERATED_CASES["tests"].add(name)


def state() -> tuple:
    """Everything a refused input must leave as it was."""
    counters = tuple(
        Product.objects.order_by("pk").values_list("on_hand", "allocated", "backordered")
    )
    lines = tuple(
        OrderLine.objects.order_by("pk").values_list(
            "allocated", "backordered", "cancelled", "paid", "returned"
        )
    )
    preferences = tuple(Order.objects.order_by("pk").values_list("shipping_preference"))
    inbounds = tuple(
        Inbound.objects.order_by("pk").values_list("quantity", "expected_date", "cancelled_at")
    )
    promises = tuple(OrderLine.objects.order_by("pk").values_list("promised_by", "eta"))
    notices = tuple(DelayNotice.objects.order_by("pk").values_list("outcome"))
    counts = tuple(model.objects.count() for model in [*DOMAIN, BackInStockSignup])
    return counts, counters, lines, preferences, inbounds, promises, notices


def answered_without_error(response) -> None:
    assert response.status_code < 500, response.status_code
    assert inventory_problems() == []


def refused_and_unchanged(response, before: tuple, refused=(400, 404, 405, 429)) -> None:
    answered_without_error(response)
    assert response.status_code in refused, response.status_code
    assert state() == before
