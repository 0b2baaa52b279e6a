import datetime
import re

from django.core.management.base import BaseCommand, CommandError

from core.text import text_problem


class StoreCommand(BaseCommand):
    """A management command whose text arguments pass core.text's rule before handle()
    runs, so no command hands a NUL or an undecodable byte to a query."""

    def execute(self, *args, **options):
        named = [(f"argument {i}", value) for i, value in enumerate(args, start=1)]
        for name, value in [*named, *options.items()]:
            if isinstance(value, str) and (problem := text_problem(value)):
                raise CommandError(f"{name.replace('_', '-')} {problem}")
        return super().execute(*args, **options)


def whole_number_argument(text: str, *, name: str) -> int:
    """A command's count argument: digits only (no sign, no spaces), else CommandError.
    The range is the service's rule."""
    if not (text.isascii() and text.isdigit()):
        raise CommandError(f"{name} must be a whole number, got {text!r}")
    return int(text)


def date_argument(text: str, *, name: str) -> datetime.date:
    """A command's date argument: exactly YYYY-MM-DD (strptime alone takes 2031-1-1)."""
    try:
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
            raise ValueError
        return datetime.datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise CommandError(f"{name} must be YYYY-MM-DD, got {text!r}") from None
