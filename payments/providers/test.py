"""The built-in provider of the embedded default and the demo: Stripe's test card
numbers behave as they do on Stripe, and nothing but a card's last four digits is
kept. Its ids are derived from the idempotency key, so a retried call returns the
same charge, as a real provider's idempotency does."""

import hashlib
import secrets

from payments.exceptions import PaymentDeclined
from payments.providers import CardInput, SavedMethod

# Last four digits of the test cards (BRIEF.md) and what each does.
DECLINED_WHEN_SAVED = {"0002": "Your card was declined."}
DECLINED_WHEN_CHARGED = {
    "9995": "Your card has insufficient funds.",
    "0341": "Your card was declined.",
}
ACCEPTED = {"4242", *DECLINED_WHEN_CHARGED}


def _luhn_ok(digits: str) -> bool:
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _id(prefix: str, key: str) -> str:
    return f"{prefix}_{hashlib.sha256(key.encode()).hexdigest()[:24]}"


class TestProvider:
    name = "test"

    def method_save(self, *, email: str, card: CardInput) -> SavedMethod:
        digits = "".join(card.number.split())
        if not (digits.isascii() and digits.isdigit() and 13 <= len(digits) <= 19):
            raise PaymentDeclined("Enter the card number: 13 to 19 digits.")
        if not _luhn_ok(digits):
            raise PaymentDeclined("That card number is not valid: please check it.")
        last4 = digits[-4:]
        if last4 in DECLINED_WHEN_SAVED:
            raise PaymentDeclined(DECLINED_WHEN_SAVED[last4])
        if last4 not in ACCEPTED:
            raise PaymentDeclined(
                "The test payment provider takes only the test cards, such as 4242 4242 4242 4242."
            )
        # A random id: nothing derived from the card number is kept, not even a hash.
        return SavedMethod(
            customer=_id("cus", email.lower()),
            method=f"pm_{last4}_{secrets.token_hex(12)}",
            last4=last4,
        )

    def charge(
        self, *, method: SavedMethod, amount: int, currency: str, key: str, off_session: bool
    ) -> str:
        if method.last4 in DECLINED_WHEN_CHARGED:
            raise PaymentDeclined(DECLINED_WHEN_CHARGED[method.last4])
        return _id("ch", key)

    def refund(self, *, charge_id: str, amount: int, key: str) -> str:
        return _id("re", key)
