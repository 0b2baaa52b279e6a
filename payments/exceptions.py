from core.exceptions import DomainError


class PaymentError(DomainError):
    """The payment provider refused or could not be reached."""


class PaymentDeclined(PaymentError):
    """The card was refused; the message is for the shopper."""


class PaymentInProgress(PaymentError):
    """Another request holds this event's claim and has not settled it yet."""


class PaymentUnavailable(PaymentError):
    """The provider could not be reached: the same call may be made again later."""
