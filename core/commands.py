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
