from core.exceptions import DomainError


class OrderError(DomainError):
    """A rule about orders refused the request."""


class CartEmpty(OrderError):
    def __init__(self):
        super().__init__("Your cart is empty.")


class PurchaseRefused(OrderError):
    """Some line cannot be bought in that quantity; `problems` names each one."""

    def __init__(self, problems: list[str]):
        super().__init__(" ".join(problems))
        self.problems = problems


class BackorderNotAccepted(OrderError):
    def __init__(self, products: list[str]):
        super().__init__(
            "Stock changed: "
            + ", ".join(products)
            + " would be partly or wholly back-ordered. Please review and accept the back-order."
        )


class OrderNotReady(OrderError):
    pass


class NothingToShip(OrderError):
    pass


class NothingToCancel(OrderError):
    pass


class NothingToReturn(OrderError):
    pass


class ChargeChanged(OrderError):
    """Stock changed between the checkout page and placement, so what is charged now
    is not what the shopper was shown (and charged)."""

    def __init__(self, charged, due):
        super().__init__(
            f"Stock changed while you were checking out: the amount charged now would be "
            f"${due}, not ${charged}. Nothing has been charged; please check your order "
            "and place it again."
        )
