import datetime
import re

from django.core.management.base import CommandError

from backorders.services import stock_receive
from catalog.exceptions import StockError
from catalog.models import Product
from catalog.services import MAX_STOCK_QUANTITY, inbound_create
from core.commands import StoreCommand


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
        if not (quantity.isascii() and quantity.isdigit()):
            raise CommandError(f"quantity must be a whole number, got {quantity!r}")
        quantity = int(quantity)
        product = Product.objects.filter(sku=sku).first()
        if product is None:
            raise CommandError(f"unknown SKU {sku!r}")
        try:
            if expected_date is None:
                self._receive(product, quantity, reference)
            else:
                self._announce(product, quantity, _parse_date(expected_date), reference)
        except StockError as error:
            raise CommandError(error.message) from None

    def _announce(self, product, quantity: int, date: datetime.date, reference: str) -> None:
        inbound_create(product=product, quantity=quantity, expected_date=date, reference=reference)
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


def _parse_date(text: str) -> datetime.date:
    try:
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):  # strptime takes 2031-1-1
            raise ValueError
        return datetime.datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise CommandError(f"--expected-date must be YYYY-MM-DD, got {text!r}") from None
