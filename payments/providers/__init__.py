"""The one interface the store talks to every payment provider through, over plain
data (after Saleor's payment interface): save a payment method, charge it (now, with
the shopper present, or later off-session), refund a charge. Amounts cross it in the
currency's minor units; `key` is the event's idempotency key.

Which provider runs is a setting: Stripe when STRIPE_SECRET_KEY is set, else the
built-in test provider (the embedded default)."""

from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Protocol

from django.conf import settings


@dataclass(frozen=True)
class CardInput:
    """What the checkout form hands over: a card typed into the test provider's
    fields, or the payment method Stripe.js made in the browser (card details never
    reach the store's server then)."""

    number: str = ""
    token: str = ""


@dataclass(frozen=True)
class SavedMethod:
    customer: str
    method: str
    last4: str


@dataclass(frozen=True)
class ProviderEvent:
    """What a provider's webhook tells of a charge or refund."""

    kind: str  # the provider's event type, e.g. "payment_intent.succeeded"
    key: str  # the idempotency key the store gave the call ("" when not the store's)
    provider_id: str
    error: str = ""


class Provider(Protocol):
    name: str

    def method_save(self, *, email: str, card: CardInput) -> SavedMethod: ...

    def charge(
        self, *, method: SavedMethod, amount: int, currency: str, key: str, off_session: bool
    ) -> str:
        """The provider's id of the charge; raises PaymentDeclined."""

    def refund(self, *, charge_id: str, amount: int, key: str) -> str:
        """The provider's id of the refund; raises PaymentError."""


def minor_units(amount: Decimal) -> int:
    """An amount in the currency's minor units (cents), as providers take it."""
    return int((amount * 100).to_integral_value())


@cache
def _provider(name: str, key: str, base: str) -> Provider:
    if name == "stripe":
        from payments.providers.stripe import StripeProvider

        return StripeProvider()
    from payments.providers.test import TestProvider

    return TestProvider()


def provider() -> Provider:
    """The configured provider (one client per configuration, reused)."""
    key = settings.STRIPE_SECRET_KEY
    return _provider("stripe" if key else "test", key, settings.STRIPE_API_BASE)
