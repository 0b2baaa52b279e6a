import datetime

import pytest

from backorders.services import inbound_announce
from catalog.policy import BackorderPolicy
from tests.factories import order_create, product_create


@pytest.fixture
def store(db):
    """One product of each policy, an order waiting on a back-order, and an inbound
    announced for it."""
    kettle = product_create(sku="KETTLE", on_hand=5)
    timer = product_create(sku="TIMER", policy=BackorderPolicy.DENY)
    mill = product_create(sku="MILL", on_hand=1, policy=BackorderPolicy.ALLOW_LIMITED, limit=3)
    tent = product_create(sku="TENT", policy=BackorderPolicy.ALLOW_INBOUND)
    order = order_create({kettle: 1, mill: 2})
    inbound = inbound_announce(
        product=mill,
        quantity=4,
        expected_date=datetime.date.today() + datetime.timedelta(days=9),
        reference="PO-MILL",
    )
    return {
        "kettle": kettle,
        "timer": timer,
        "mill": mill,
        "tent": tent,
        "order": order,
        "inbound": inbound,
    }
