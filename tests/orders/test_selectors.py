import json

import pytest
from django.db.models.functions import JSONObject

from orders.models import LINE_REFERENCE, OrderLine
from orders.selectors import order_email_facts, order_email_facts_expression
from tests.factories import order_create, product_create

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("preference", ["ship_ready_now", "ship_all_together"])
def test_email_facts_in_python_and_in_the_database_agree(preference):
    order = order_create({product_create(sku="KETTLE"): 1}, shipping_preference=preference)
    in_python = order_email_facts(order=order)
    (in_database,) = OrderLine.objects.filter(order=order).values_list(
        JSONObject(**order_email_facts_expression()), flat=True
    )
    if isinstance(in_database, str):  # SQLite hands JSON back as text
        in_database = json.loads(in_database)
    in_database["ships_ready_now"] = bool(in_database["ships_ready_now"])
    assert in_database == {key: in_python[key] for key in in_database}
    # What only the emails that list the lines need (the set-based allocation email
    # names the lines it served, not the order's money).
    only_listed = {
        "lines",
        "any_backordered",
        "total",
        "due_on_shipment",
        "email",
        "shipping_address",
    }
    assert set(in_python) - set(in_database) == only_listed


def test_line_reference_in_python_and_in_the_database_agree():
    order = order_create({product_create(sku="KETTLE"): 1})
    line = order.lines.get()
    assert OrderLine.objects.values_list(LINE_REFERENCE, flat=True).get() == line.reference
    assert line.reference == f"order {order.number} line {line.pk}"
