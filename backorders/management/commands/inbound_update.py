from django.core.management.base import CommandError

from backorders.services import inbound_cancel, inbound_revise
from catalog.exceptions import StockError
from catalog.models import Inbound
from catalog.services import MAX_STOCK_QUANTITY
from core.commands import StoreCommand, date_argument, whole_number_argument


class Command(StoreCommand):
    help = (
        "Change or cancel the open inbound shipment announced under REFERENCE (with "
        "receive_stock --expected-date). Customers whose dates move are told; a delay past "
        "a promise sends them a notice to wait or cancel."
    )

    def add_arguments(self, parser):
        parser.add_argument("reference")
        parser.add_argument("--expected-date", help="YYYY-MM-DD: the supplier's new date")
        parser.add_argument(
            "--quantity", help=f"the new number of units, 1 to {MAX_STOCK_QUANTITY:,}"
        )
        parser.add_argument("--cancel", action="store_true", help="the shipment will not come")

    def handle(self, *args, reference, expected_date, quantity, cancel, **options):
        if not reference.strip():
            raise CommandError("reference must name an inbound, got an empty one")
        changes = (expected_date, quantity)
        if cancel and changes != (None, None):
            raise CommandError("--cancel takes no --expected-date or --quantity")
        if not cancel and changes == (None, None):
            raise CommandError("say what changed: --expected-date, --quantity or --cancel")
        date = (
            None if expected_date is None else date_argument(expected_date, name="--expected-date")
        )
        units = None if quantity is None else whole_number_argument(quantity, name="--quantity")
        inbound = Inbound.objects.open().select_related("product").filter(reference=reference)
        inbound = inbound.first()
        if inbound is None:
            raise CommandError(f"no open inbound has the reference {reference!r}")
        try:
            if cancel:
                inbound_cancel(inbound=inbound)
                self.stdout.write(self.style.SUCCESS(f"Inbound {reference} cancelled."))
                return
            inbound = inbound_revise(inbound=inbound, expected_date=date, quantity=units)
        except StockError as error:
            raise CommandError(error.message) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Inbound {reference}: {inbound.quantity} × {inbound.product.sku} now expected "
                f"{inbound.expected_date}."
            )
        )
