import pytest

from catalog.policy import Availability, BackorderPolicy, PurchasePolicy


def policy(kind, *, available, waiting=0, limit=0):
    return PurchasePolicy(policy=kind, available=available, waiting=waiting, limit=limit)


@pytest.mark.parametrize(
    ("kind", "available", "waiting", "limit", "quantity", "split", "permitted"),
    [
        (BackorderPolicy.ALLOW, 5, 0, 0, 3, (3, 0), True),
        (BackorderPolicy.ALLOW, 2, 0, 0, 5, (2, 3), True),
        (BackorderPolicy.ALLOW, 0, 0, 0, 99, (0, 99), True),
        (BackorderPolicy.DENY, 2, 0, 0, 2, (2, 0), True),
        (BackorderPolicy.DENY, 2, 0, 0, 3, (2, 1), False),
        (BackorderPolicy.ALLOW_LIMITED, 1, 0, 4, 5, (1, 4), True),
        (BackorderPolicy.ALLOW_LIMITED, 0, 3, 4, 2, (0, 2), False),
        (BackorderPolicy.ALLOW_LIMITED, 0, 3, 4, 1, (0, 1), True),
    ],
)
def test_split_and_permission(kind, available, waiting, limit, quantity, split, permitted):
    rule = policy(kind, available=available, waiting=waiting, limit=limit)
    assert rule.split(quantity) == split
    assert rule.is_purchase_permitted(quantity)[0] is permitted


def test_waiting_back_orders_own_newly_available_units():
    # 3 units arrived but 5 are waiting: a new shopper gets none of them.
    rule = policy(BackorderPolicy.ALLOW, available=3, waiting=5)
    assert rule.free == 0
    assert rule.split(1) == (0, 1)
    assert rule.availability == Availability.BACKORDER


def test_refusal_reason_says_how_many_are_left():
    assert policy(BackorderPolicy.DENY, available=2).is_purchase_permitted(3) == (
        False,
        "has only 2 available",
    )
    assert policy(BackorderPolicy.DENY, available=0).is_purchase_permitted(1) == (
        False,
        "is sold out",
    )


@pytest.mark.parametrize(
    ("kind", "available", "waiting", "limit", "expected"),
    [
        (BackorderPolicy.DENY, 1, 0, 0, Availability.IN_STOCK),
        (BackorderPolicy.DENY, 0, 0, 0, Availability.UNAVAILABLE),
        (BackorderPolicy.ALLOW, 0, 0, 0, Availability.BACKORDER),
        (BackorderPolicy.ALLOW_LIMITED, 0, 4, 4, Availability.UNAVAILABLE),
        (BackorderPolicy.ALLOW_LIMITED, 0, 3, 4, Availability.BACKORDER),
    ],
)
def test_availability(kind, available, waiting, limit, expected):
    assert policy(kind, available=available, waiting=waiting, limit=limit).availability == expected
