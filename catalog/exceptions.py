from core.exceptions import DomainError


class StockError(DomainError):
    """A rule about stock or inbound supply refused the request."""
