"""Stripe, through the official library: a Customer per email, the card saved for
later by a SetupIntent (usage off_session) that Stripe.js confirms in the browser,
PaymentIntents confirmed at once for the charge at checkout and off-session when
back-ordered units arrive, refunds against a PaymentIntent, and webhook events
verified with the signing secret. Card details never reach the store's server."""

from contextlib import contextmanager

import stripe
from django.conf import settings

from payments.exceptions import PaymentDeclined, PaymentError, PaymentUnavailable
from payments.providers import CardInput, ProviderEvent, SavedMethod

_UNREACHABLE = (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError)


class StripeProvider:
    name = "stripe"

    def __init__(self):
        base = {"api": settings.STRIPE_API_BASE} if settings.STRIPE_API_BASE else {}
        self.client = stripe.StripeClient(
            settings.STRIPE_SECRET_KEY, base_addresses=base, max_network_retries=2
        )

    def _customer(self, email: str) -> str:
        found = self.client.v1.customers.list(params={"email": email, "limit": 1})
        if found.data:
            return found.data[0].id
        return self.client.v1.customers.create(params={"email": email}).id

    def card_setup_begin(self, *, email: str) -> str:
        """The client secret of a SetupIntent for `email`'s Customer: Stripe.js
        confirms it with the card the shopper types."""
        with _errors():
            setup = self.client.v1.setup_intents.create(
                params={
                    "customer": self._customer(email),
                    "usage": "off_session",
                    "payment_method_types": ["card"],
                }
            )
        return setup.client_secret

    def method_save(self, *, email: str, card: CardInput) -> SavedMethod:
        # The token is the SetupIntent Stripe.js confirmed: it must have succeeded, for
        # this email's Customer.
        if not card.token.startswith("seti_"):
            raise PaymentDeclined("Enter your card details: the card was not read.")
        with _errors():
            setup = self.client.v1.setup_intents.retrieve(card.token)
            customer = self.client.v1.customers.retrieve(setup.customer) if setup.customer else None
            if setup.status != "succeeded" or customer is None or customer.email != email:
                raise PaymentDeclined("The card was not saved: please enter it again.")
            method = self.client.v1.payment_methods.retrieve(setup.payment_method)
        return SavedMethod(customer=customer.id, method=method.id, last4=method.card.last4)

    def charge(
        self, *, method: SavedMethod, amount: int, currency: str, key: str, off_session: bool
    ) -> str:
        params = {
            "amount": amount,
            "currency": currency,
            "customer": method.customer,
            "payment_method": method.method,
            "payment_method_types": ["card"],
            "confirm": True,
            "metadata": {"key": key},
        }
        if off_session:
            params["off_session"] = True
        with _errors():
            intent = self.client.v1.payment_intents.create(
                params=params, options={"idempotency_key": key}
            )
        if intent.status != "succeeded":
            raise PaymentDeclined("Your bank asks you to confirm this payment: use another card.")
        return intent.id

    def refund(self, *, charge_id: str, amount: int, key: str) -> str:
        with _errors():
            refund = self.client.v1.refunds.create(
                params={"payment_intent": charge_id, "amount": amount, "metadata": {"key": key}},
                options={"idempotency_key": key},
            )
        return refund.id

    def event_verify(self, *, payload: bytes, signature: str) -> ProviderEvent:
        """What a webhook tells, if Stripe signed it with our secret; else PaymentError."""
        try:
            event = stripe.Webhook.construct_event(
                payload, signature, settings.STRIPE_WEBHOOK_SECRET
            )
        except (stripe.SignatureVerificationError, ValueError) as error:
            raise PaymentError("The webhook's signature does not verify.") from error
        thing = event.data.object.to_dict()
        failure = thing.get("last_payment_error") or {}
        return ProviderEvent(
            kind=event.type,
            key=(thing.get("metadata") or {}).get("key", ""),
            provider_id=thing.get("id", ""),
            error=failure.get("message", "") if event.type.endswith("failed") else "",
        )


@contextmanager
def _errors():
    """Stripe's errors as the store's: a refused card, or a provider out of reach."""
    try:
        yield
    except stripe.CardError as error:
        raise PaymentDeclined(error.user_message or "Your card was declined.") from error
    except _UNREACHABLE as error:
        raise PaymentUnavailable(f"Stripe is out of reach: {error}") from error
    except stripe.StripeError as error:
        message = error.user_message or str(error)
        raise PaymentError(f"Stripe refused the request: {message}") from error
