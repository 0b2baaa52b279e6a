import datetime

from django.core.management.base import CommandError

from backorders.services import inbound_announce, stock_receive
from catalog.exceptions import StockError
from catalog.models import Product
from catalog.services import MAX_STOCK_QUANTITY
from core.commands import StoreCommand, date_argument, whole_number_argument


class Command(StoreCommand):
    help = (
        "Record stock that arrived for SKU; waiting back-orders are then allocated in queue "
        "order. With --expected-date, announce a confirmed inbound shipment instead: nothing "
        "is received now, but waiting back-orders get that date as their ETA. Receiving later "
        "with the same --reference closes the inbound."
    )

    def add_arguments(self, parser):
        parser.add_argument("sku")
        parser.add_argument("quantity", help=f"whole number of units, 1 to {MAX_STOCK_QUANTITY:,}")
        parser.add_argument("--reference", default="", help="delivery note or PO number")
        parser.add_argument(
            "--expected-date",
            help="YYYY-MM-DD: announce an inbound expected that day instead of receiving now",
        )

    def handle(self, *args, sku, quantity, reference, expected_date, **options):
        # This command parses and translates; the rules are the services' (StockError).
        quantity = whole_number_argument(quantity, name="quantity")
        product = Product.objects.filter(sku=sku).first()
        if product is None:
            raise CommandError(f"unknown SKU {sku!r}")
        try:
            if expected_date is None:
                self._receive(product, quantity, reference)
            else:
                self._announce(
                    product,
                    quantity,
                    date_argument(expected_date, name="--expected-date"),
                    reference,
                )
        except StockError as error:
            raise CommandError(error.message) from None

    def _announce(self, product, quantity: int, date: datetime.date, reference: str) -> None:
        inbound_announce(
            product=product, quantity=quantity, expected_date=date, reference=reference
        )
        self.stdout.write(
            self.style.SUCCESS(f"Inbound of {quantity} × {product.sku} expected {date} recorded.")
        )

    def _receive(self, product, quantity: int, reference: str) -> None:
        self.stdout.write(f"Receiving {quantity} × {product.sku}…")
        stock_receive(product=product, quantity=quantity, reference=reference)
        product.refresh_from_db()
        self.stdout.write(
            self.style.SUCCESS(
                f"Received. {product.sku}: on hand {product.on_hand}, allocated "
                f"{product.allocated}, available {product.available}, waiting on back-order "
                f"{product.backordered}."
            )
        )
