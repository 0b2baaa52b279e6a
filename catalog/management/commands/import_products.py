import csv
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.core.files import File
from django.core.management.base import CommandError
from django.utils.text import slugify
from PIL import Image

from catalog.models import Product
from catalog.policy import BackorderPolicy
from catalog.services import ProductRow, product_image_set, product_slug, products_import
from core.commands import StoreCommand
from core.text import text_problem

COLUMNS = [
    "sku",
    "name",
    "price",
    "category",
    "backorder_policy",
    "backorder_limit",
    "lead_time_days",
    "description",
]
# Optional: a picture's path, relative to the CSV file's folder (or absolute).
IMAGE_COLUMN = "image"
MAX_PRICE = Decimal("99999999.99")


class Command(StoreCommand):
    help = (
        "Create or update products by SKU from a CSV file with the columns "
        + ",".join(COLUMNS)
        + f" and optionally {IMAGE_COLUMN} (a picture's path, relative to the CSV file). "
        "Every row is checked first; any error names its row and nothing is imported."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="path to the CSV file")

    def handle(self, *args, file: str, **options):
        try:
            with open(file, newline="", encoding="utf-8-sig") as handle:
                reader = csv.DictReader(handle)
                missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
                if missing:
                    raise CommandError(f"{file}: missing column(s): {', '.join(missing)}")
                rows, errors = [], []
                pictures: dict[str, Path] = {}
                rows_of_sku: dict[str, list[int]] = {}
                folder = Path(file).resolve().parent
                for number, record in enumerate(reader, start=2):  # row 1 is the header
                    try:
                        rows.append(parse_row(record))
                        if picture := picture_path(record, folder, sku=rows[-1].sku):
                            pictures[rows[-1].sku] = picture
                    except ValueError as error:
                        errors.append(f"row {number}: {error}")
                    else:
                        rows_of_sku.setdefault(rows[-1].sku, []).append(number)
        except csv.Error as error:  # e.g. a field over the csv module's size limit
            # line_num counts the lines read before the one that failed.
            row = reader.line_num + 1
            raise CommandError(f"nothing imported:\n  row {row}: {error}") from None
        except OSError as error:
            raise CommandError(f"cannot read {file}: {error.strerror}") from error
        except UnicodeDecodeError as error:
            raise CommandError(f"{file} is not UTF-8 text") from error
        errors += [
            f"rows {', '.join(map(str, numbers))}: SKU {sku} appears more than once"
            for sku, numbers in rows_of_sku.items()
            if len(numbers) > 1
        ]
        errors += _slug_clashes(rows, rows_of_sku)
        if errors:
            raise CommandError("nothing imported:\n  " + "\n  ".join(errors))
        if not rows:
            raise CommandError(f"{file} has no product rows; nothing imported")
        self.stdout.write(f"Importing {len(rows)} product(s)…")
        created, updated = products_import(rows=rows)
        self.stdout.write(self.style.SUCCESS(f"{created} created, {updated} updated."))
        products = Product.objects.in_bulk(list(pictures), field_name="sku")
        changed = {
            sku: path
            for sku, path in pictures.items()
            if Path(products[sku].image.name).name != path.name
        }
        if changed:
            self.stdout.write(f"Saving {len(changed)} picture(s) and their thumbnails…")
        for number, (sku, path) in enumerate(sorted(changed.items()), start=1):
            with path.open("rb") as picture:
                product_image_set(product=products[sku], image=File(picture))
            if number % 100 == 0:
                self.stdout.write(f"  {number} of {len(changed)}")
        if changed:
            self.stdout.write(self.style.SUCCESS(f"{len(changed)} picture(s) saved."))


def parse_row(record: dict[str, str]) -> ProductRow:
    value = {key: (record.get(key) or "").strip() for key in COLUMNS}
    for column, text in value.items():
        if problem := text_problem(text):
            raise ValueError(f"{column} {problem}")
    if not value["sku"]:
        raise ValueError("missing SKU")
    if len(value["sku"]) > 64:
        raise ValueError(f"SKU {value['sku']!r} is longer than 64 characters")
    if not product_slug(value["sku"]):
        raise ValueError(f"SKU {value['sku']!r} needs at least one letter or digit (a-z, 0-9)")
    for column, longest in (("name", 200), ("category", 100)):
        if not value[column]:
            raise ValueError(f"SKU {value['sku']}: missing {column}")
        if len(value[column]) > longest:
            raise ValueError(f"SKU {value['sku']}: {column} is longer than {longest} characters")
    if not slugify(value["category"]):
        raise ValueError(f"SKU {value['sku']}: category needs at least one letter or digit")
    try:
        price = Decimal(value["price"])
    except InvalidOperation:
        raise ValueError(f"SKU {value['sku']}: bad price {value['price']!r}") from None
    if (
        not price.is_finite()
        or price < 0
        or price > MAX_PRICE
        or price != price.quantize(Decimal("0.01"))
    ):
        raise ValueError(f"SKU {value['sku']}: bad price {value['price']!r}")
    if value["backorder_policy"] not in BackorderPolicy.values:
        raise ValueError(
            f"SKU {value['sku']}: unknown backorder_policy {value['backorder_policy']!r} "
            f"(use one of {', '.join(BackorderPolicy.values)})"
        )
    return ProductRow(
        sku=value["sku"],
        name=value["name"],
        price=price,
        category=value["category"],
        backorder_policy=value["backorder_policy"],
        backorder_limit=_whole_number(value, "backorder_limit", default=0),
        lead_time_days=_whole_number(value, "lead_time_days", default=14),
        description=value["description"],
    )


def picture_path(record: dict[str, str], folder: Path, *, sku: str) -> Path | None:
    """The row's picture, checked to be a file Pillow reads; None when it has none."""
    text = (record.get(IMAGE_COLUMN) or "").strip()
    if not text:
        return None
    if problem := text_problem(text):
        raise ValueError(f"SKU {sku}: {IMAGE_COLUMN} {problem}")
    path = folder / text
    try:
        with Image.open(path) as picture:
            picture.verify()
    except FileNotFoundError:
        raise ValueError(f"SKU {sku}: no picture at {text!r}") from None
    except (OSError, SyntaxError, ValueError):
        raise ValueError(f"SKU {sku}: {text!r} is not a picture Pillow can read") from None
    return path


def _whole_number(value: dict[str, str], column: str, *, default: int) -> int:
    text = value[column]
    if not text:
        return default
    if not (text.isascii() and text.isdigit()) or int(text) > 100_000:
        raise ValueError(f"SKU {value['sku']}: {column} must be a whole number, got {text!r}")
    return int(text)


def _slug_clashes(rows: list[ProductRow], rows_of_sku: dict[str, list[int]]) -> list[str]:
    """SKUs that differ only in case or punctuation would share a product page address."""
    errors = []
    skus_of_slug: dict[str, set[str]] = {}
    for row in rows:
        skus_of_slug.setdefault(product_slug(row.sku), set()).add(row.sku)
    existing = dict(Product.objects.filter(slug__in=skus_of_slug).values_list("slug", "sku"))
    for slug, skus in skus_of_slug.items():
        owner = existing.get(slug)
        clashing = sorted(skus | ({owner} if owner else set()))
        if len(clashing) > 1:
            numbers = sorted(n for sku in skus for n in rows_of_sku[sku])
            errors.append(
                f"rows {', '.join(map(str, numbers))}: SKUs {', '.join(clashing)} would share "
                f"the product address /products/{slug}/"
            )
    return errors
