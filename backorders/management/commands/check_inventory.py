from django.core.management.base import CommandError

from backorders.selectors import inventory_problems
from core.commands import StoreCommand


class Command(StoreCommand):
    help = "Verify the stock invariants of BRIEF.md; exit non-zero naming each broken one."

    def handle(self, *args, **options):
        self.stdout.write(
            "Checking stock counters, order lines, ledger, queue order, emails, promises, payments…"
        )
        problems = inventory_problems()
        if problems:
            for problem in problems:
                self.stderr.write(problem)
            raise CommandError(f"{len(problems)} invariant violation(s) found")
        self.stdout.write(
            self.style.SUCCESS(
                "Inventory is consistent: invariants 1–5 hold, no back-order waits "
                "past its promise untold, and every order's payments add up."
            )
        )
