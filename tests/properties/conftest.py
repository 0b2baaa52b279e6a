import pytest

from catalog.policy import BackorderPolicy
from tests.factories import order_create, product_create


@pytest.fixture
def store(db):
    """One product of each policy and an order waiting on a back-order."""
    kettle = product_create(sku="KETTLE", on_hand=5)
    timer = product_create(sku="TIMER", policy=BackorderPolicy.DENY)
    mill = product_create(sku="MILL", on_hand=1, policy=BackorderPolicy.ALLOW_LIMITED, limit=3)
    order = order_create({kettle: 1, mill: 2})
    return {"kettle": kettle, "timer": timer, "mill": mill, "order": order}
