from core.exceptions import DomainError


class BackorderError(DomainError):
    """A rule of the back-order engine refused the request."""
