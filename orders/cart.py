"""The shopper's cart: product ids and quantities kept in the session."""

import secrets

from django.conf import settings

SESSION_KEY = "cart"
# The key of the checkout form this session is filling in, and the keys it placed
# orders with (a repeat of one of those lands on its order).
CHECKOUT_KEY = "checkout_key"
PLACED_KEYS = "checkout_keys_placed"
PLACED_KEYS_KEPT = 5


class Cart:
    def __init__(self, session):
        self.session = session
        self.quantities: dict[str, int] = dict(session.get(SESSION_KEY, {}))

    def __len__(self) -> int:
        return sum(self.quantities.values())

    def by_product(self) -> dict[int, int]:
        """{product id: quantity}"""
        return {int(pid): quantity for pid, quantity in self.quantities.items()}

    def add(self, product_id: int, quantity: int) -> int:
        """Add units, capped at the per-line maximum; returns the line's new quantity."""
        total = min(self.quantities.get(str(product_id), 0) + quantity, max_line_quantity())
        self.set_quantity(product_id, total)
        return total

    def set_quantity(self, product_id: int, quantity: int) -> None:
        if quantity > 0:
            self.quantities[str(product_id)] = quantity
        else:
            self.quantities.pop(str(product_id), None)
        self._save()

    def keep_only(self, product_ids: set[int]) -> None:
        """Forget products that no longer exist."""
        for pid in [pid for pid in self.quantities if int(pid) not in product_ids]:
            del self.quantities[pid]
        self._save()

    def clear(self) -> None:
        self.quantities = {}
        self._save()

    def checkout_key(self) -> str:
        """This session's checkout key: the same until an order is placed with it."""
        if not self.session.get(CHECKOUT_KEY):
            self.session[CHECKOUT_KEY] = secrets.token_urlsafe(24)  # 192 bits
        return self.session[CHECKOUT_KEY]

    def checkout_keys(self) -> set[str]:
        """Keys this session issued: only these name an order for it."""
        return {self.session.get(CHECKOUT_KEY), *self.session.get(PLACED_KEYS, [])} - {None}

    def checkout_placed(self, key: str) -> None:
        """An order was placed with `key`: empty the cart, start a new key."""
        self.clear()
        self.session[PLACED_KEYS] = [*self.session.get(PLACED_KEYS, []), key][-PLACED_KEYS_KEPT:]
        self.session.pop(CHECKOUT_KEY, None)

    def _save(self) -> None:
        self.session[SESSION_KEY] = self.quantities


def max_line_quantity() -> int:
    return settings.STORE_MAX_LINE_QUANTITY
