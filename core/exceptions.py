class DomainError(Exception):
    """A rule of the store refused the request; the message is safe to show the user.
    Views turn it into a form error (on `field` when it names one) or a message,
    commands into a CommandError."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field

    def add_to(self, form) -> None:
        """Show this refusal on `form`: on its field when the form has it."""
        form.add_error(self.field if self.field in form.fields else None, self.message)
