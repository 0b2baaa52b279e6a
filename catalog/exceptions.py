from core.exceptions import DomainError


class StockError(DomainError):
    """A rule about stock or inbound supply refused the request."""


class CatalogError(DomainError):
    """A product's data was refused (a picture that is not one)."""
