import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from backorders.services import MAX_RECEIPT_QUANTITY, stock_receive
from catalog.models import Product
from catalog.services import inbound_create


class Command(BaseCommand):
    help = (
        "Record stock that arrived for SKU; waiting back-orders are then allocated in queue "
        "order. With --expected-date, announce a confirmed inbound shipment instead: nothing "
        "is received now, but waiting back-orders get that date as their ETA. Receiving later "
        "with the same --reference closes the inbound."
    )

    def add_arguments(self, parser):
        parser.add_argument("sku")
        parser.add_argument("quantity", help=f"whole number of units, 1 to {MAX_RECEIPT_QUANTITY}")
        parser.add_argument("--reference", default="", help="delivery note or PO number")
        parser.add_argument(
            "--expected-date",
            help="YYYY-MM-DD: announce an inbound expected that day instead of receiving now",
        )

    def handle(self, *args, sku, quantity, reference, expected_date, **options):
        if not (quantity.isascii() and quantity.isdigit()) or not (
            1 <= int(quantity) <= MAX_RECEIPT_QUANTITY
        ):
            raise CommandError(f"quantity must be a whole number from 1 to {MAX_RECEIPT_QUANTITY}")
        quantity = int(quantity)
        if len(reference) > 120:
            raise CommandError("reference must be at most 120 characters")
        product = Product.objects.filter(sku=sku).first()
        if product is None:
            raise CommandError(f"unknown SKU {sku!r}")
        if expected_date is not None:
            date = _parse_future_date(expected_date)
            inbound_create(
                product=product, quantity=quantity, expected_date=date, reference=reference
            )
            self.stdout.write(
                self.style.SUCCESS(f"Inbound of {quantity} × {sku} expected {date} recorded.")
            )
            return
        self.stdout.write(f"Receiving {quantity} × {sku}…")
        stock_receive(product=product, quantity=quantity, reference=reference)
        product.refresh_from_db()
        self.stdout.write(
            self.style.SUCCESS(
                f"Received. {sku}: on hand {product.on_hand}, allocated {product.allocated}, "
                f"available {product.available}, waiting on back-order {product.backordered}."
            )
        )


def _parse_future_date(text: str) -> datetime.date:
    try:
        date = datetime.datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise CommandError(f"--expected-date must be YYYY-MM-DD, got {text!r}") from None
    if date < timezone.localdate():
        raise CommandError(f"--expected-date {date} is in the past")
    return date
