class BackorderError(Exception):
    """A rule of the back-order engine refused the request; safe to show the user."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
