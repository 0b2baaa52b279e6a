"""The shopper's cart: product ids and quantities kept in the session."""

from django.conf import settings

SESSION_KEY = "cart"


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

    def _save(self) -> None:
        self.session[SESSION_KEY] = self.quantities


def max_line_quantity() -> int:
    return settings.STORE_MAX_LINE_QUANTITY
