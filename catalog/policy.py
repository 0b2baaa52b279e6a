"""Availability as a small policy object with no database access (django-oscar's habit):
given the counters, it says how many units a purchase would allocate, how many it
would put on back-order, and whether the purchase is permitted at all."""

from dataclasses import dataclass

from django.db import models


class BackorderPolicy(models.TextChoices):
    DENY = "deny", "Deny: sell only what is available"
    ALLOW = "allow", "Allow back-orders without limit"
    ALLOW_LIMITED = "allow_limited", "Allow back-orders up to a limit"
    ALLOW_INBOUND = "allow_inbound", "Allow back-orders up to confirmed inbound supply"


class Availability(models.TextChoices):
    IN_STOCK = "in_stock", "In stock"
    BACKORDER = "backorder", "Available on back-order"
    UNAVAILABLE = "unavailable", "Sold out"


@dataclass(frozen=True)
class PurchasePolicy:
    policy: BackorderPolicy
    available: int  # on hand − allocated
    waiting: int  # units of this product already waiting on back-order
    limit: int  # allow_limited: most units open on back-order
    inbound: int = 0  # allow_inbound: units of open inbounds that still carry a date

    @property
    def free(self) -> int:
        """Available units not owed to the queue: waiting back-orders are served first,
        so a new order never takes stock that arrived for an older one."""
        return max(self.available - self.waiting, 0)

    @property
    def backorderable(self) -> int | None:
        """Units that may still go on back-order; None means no limit."""
        if self.policy == BackorderPolicy.ALLOW:
            return None
        if self.policy == BackorderPolicy.ALLOW_LIMITED:
            return max(self.limit - self.waiting, 0)
        if self.policy == BackorderPolicy.ALLOW_INBOUND:
            # Confirmed supply not yet promised: the inbound units, less what the queue
            # still needs beyond the stock at hand.
            return max(self.inbound + min(self.available - self.waiting, 0), 0)
        return 0

    @property
    def availability(self) -> Availability:
        if self.free > 0:
            return Availability.IN_STOCK
        if self.backorderable != 0:
            return Availability.BACKORDER
        return Availability.UNAVAILABLE

    @property
    def max_purchasable(self) -> int | None:
        if self.backorderable is None:
            return None
        return self.free + self.backorderable

    def split(self, quantity: int) -> tuple[int, int]:
        """(units allocated now, units put on back-order) for buying `quantity`."""
        allocated = min(quantity, self.free)
        return allocated, quantity - allocated

    def is_purchase_permitted(self, quantity: int) -> tuple[bool, str]:
        limit = self.max_purchasable
        if limit is None or quantity <= limit:
            return True, ""
        if limit == 0:
            return False, "is sold out"
        return False, f"has only {limit} available"
