"""Every write to the catalog and its stock counters.

Stock verbs must run inside transaction.atomic() on products locked with
products_lock(); they change counters with F() and append one ledger row per entry,
so the ledger always sums to the counters (BRIEF invariant 3).
"""

import datetime
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.db.models import Expression, F, QuerySet, Value
from django.utils import timezone
from django.utils.text import slugify
from easy_thumbnails.files import get_thumbnailer
from PIL import Image

from catalog.cache import catalog_bump_on_commit, product_versions_bump_on_commit
from catalog.exceptions import CatalogError, StockError
from catalog.models import Category, Inbound, Product, StockMovement
from core.db import insert_from_select

# (units, reference) for one ledger row
StockEntry = tuple[int, str]

# The most units one receipt or inbound may carry: a typo guard, far above any delivery.
MAX_STOCK_QUANTITY = 1_000_000
MAX_REFERENCE_LENGTH = StockMovement._meta.get_field("reference").max_length
# The furthest ahead an inbound may be dated: no supplier confirms further, and a typo
# of year 9999 would otherwise reach the date arithmetic of every promise.
MAX_INBOUND_LEAD = datetime.timedelta(days=730)


def products_lock(*, product_ids: Iterable[int]) -> dict[int, Product]:
    """Lock products in primary-key order, so concurrent transactions cannot deadlock.
    Every writer of a product's stock or inbounds locks it first, so this is also where
    its cached fragments are marked stale, once the transaction commits."""
    products = (
        Product.objects.filter(pk__in=set(product_ids))
        .order_by("pk")
        .select_for_update(of=("self",))
    )
    locked = {product.pk: product for product in products}
    product_versions_bump_on_commit(product_ids=locked)
    return locked


def _counters_move(product: Product, *, on_hand: int = 0, allocated: int = 0, backordered: int = 0):
    Product.objects.filter(pk=product.pk).update(
        on_hand=F("on_hand") + on_hand,
        allocated=F("allocated") + allocated,
        backordered=F("backordered") + backordered,
    )
    # The row is locked by this transaction, so the in-memory copy stays exact.
    product.on_hand += on_hand
    product.allocated += allocated
    product.backordered += backordered


def _ledger_append(
    product: Product, kind: str, entries: Sequence[StockEntry], *, on_hand: int, allocated: int
) -> list[StockMovement]:
    return StockMovement.objects.bulk_create(
        StockMovement(
            product=product,
            kind=kind,
            on_hand_delta=on_hand * units,
            allocated_delta=allocated * units,
            reference=reference,
        )
        for units, reference in entries
    )


def stock_increase(*, product: Product, quantity: int, reference: str) -> StockMovement:
    """Record a receipt; an open inbound with the same reference counts as arrived."""
    _counters_move(product, on_hand=quantity)
    (movement,) = _ledger_append(
        product, StockMovement.Kind.RECEIPT, [(quantity, reference)], on_hand=1, allocated=0
    )
    if reference:
        Inbound.objects.open().filter(product=product, reference=reference).update(
            received_at=timezone.now()
        )
    return movement


def stock_allocate(*, product: Product, entries: Sequence[StockEntry]) -> list[StockMovement]:
    """Reserve available units for new orders."""
    units = sum(n for n, _ in entries)
    _counters_move(product, allocated=units)
    return _ledger_append(product, StockMovement.Kind.ALLOCATION, entries, on_hand=0, allocated=1)


def stock_allocate_rows(
    *, product: Product, source: QuerySet, units: Expression, reference: Expression
) -> int:
    """Reserve available units for waiting back-orders, moving them out of the waiting
    count: one ledger row per row of `source`, `units` and `reference` computed in the
    database. Returns the units."""
    now = timezone.now()
    moved = insert_from_select(
        model=StockMovement,
        source=source,
        values={
            "product": Value(product.pk),
            "kind": Value(StockMovement.Kind.ALLOCATION),
            "on_hand_delta": Value(0),
            "allocated_delta": units,
            "reference": reference,
            "created_at": Value(now),
        },
        returning="allocated_delta",
    )
    _counters_move(product, allocated=sum(moved), backordered=-sum(moved))
    return sum(moved)


def stock_release(*, product: Product, entries: Sequence[StockEntry]) -> list[StockMovement]:
    """Allocated units become available again (their line gave them up)."""
    units = sum(n for n, _ in entries)
    _counters_move(product, allocated=-units)
    return _ledger_append(product, StockMovement.Kind.ALLOCATION, entries, on_hand=0, allocated=-1)


def stock_ship(*, product: Product, entries: Sequence[StockEntry]) -> list[StockMovement]:
    """Allocated units leave the warehouse."""
    units = sum(n for n, _ in entries)
    _counters_move(product, on_hand=-units, allocated=-units)
    return _ledger_append(product, StockMovement.Kind.SHIPMENT, entries, on_hand=-1, allocated=-1)


def stock_backorder(*, product: Product, units: int) -> None:
    """Units start (positive) or stop (negative) waiting on back-order."""
    _counters_move(product, backordered=units)


def stock_quantity_check(*, quantity: int, reference: str = "") -> None:
    """The rule for units arriving (a receipt, an inbound); StockError if broken."""
    if not isinstance(quantity, int) or not 1 <= quantity <= MAX_STOCK_QUANTITY:
        raise StockError(
            f"Units must be a whole number from 1 to {MAX_STOCK_QUANTITY:,}.", field="quantity"
        )
    if len(reference) > MAX_REFERENCE_LENGTH:
        raise StockError(
            f"A reference is at most {MAX_REFERENCE_LENGTH} characters.", field="reference"
        )


def inbound_check(*, quantity: int, expected_date: datetime.date, reference: str = "") -> None:
    """The rule for a confirmed inbound, wherever it is entered; StockError if broken.
    A date in the past would be a promise already broken."""
    stock_quantity_check(quantity=quantity, reference=reference)
    if not isinstance(expected_date, datetime.date):
        raise StockError("An expected date is required.", field="expected_date")
    today = timezone.localdate()
    if expected_date < today:
        raise StockError(
            f"The expected date {expected_date:%Y-%m-%d} is in the past.", field="expected_date"
        )
    if expected_date > today + MAX_INBOUND_LEAD:
        raise StockError(
            f"The expected date {expected_date:%Y-%m-%d} is more than "
            f"{MAX_INBOUND_LEAD.days} days away.",
            field="expected_date",
        )


@dataclass(frozen=True)
class ProductRow:
    sku: str
    name: str
    price: Decimal
    category: str
    backorder_policy: str
    backorder_limit: int
    lead_time_days: int
    description: str
    # None leaves what staff set alone (the CSV import has no such column).
    backorder_discount_percent: int | None = None


def product_image_set(*, product: Product, image: File | None = None) -> Product:
    """Give the product a picture (or, without `image`, re-make the thumbnail of the
    one it has): the file is checked by Pillow, saved under MEDIA_ROOT, and its
    catalog thumbnail made once by easy-thumbnails, its size kept on the row."""
    if image is not None:
        try:
            Image.open(image).verify()
        except (OSError, SyntaxError, ValueError) as error:
            raise CatalogError(f"{getattr(image, 'name', 'The file')} is not a picture.") from error
        image.seek(0)
        product.image.save(Path(image.name).name, image, save=False)
    fields = ["image", "thumbnail", "thumbnail_width", "thumbnail_height"]
    if not product.image:
        product.thumbnail, product.thumbnail_width, product.thumbnail_height = "", None, None
    else:
        thumb = get_thumbnailer(product.image).get_thumbnail(settings.PRODUCT_THUMBNAIL)
        product.thumbnail = thumb.name
        product.thumbnail_width, product.thumbnail_height = thumb.width, thumb.height
    product.save(update_fields=fields)
    product_versions_bump_on_commit(product_ids=[product.pk])
    return product


def product_slug(sku: str) -> str:
    """The product page's address, fixed at creation so links never break."""
    return slugify(sku)


def products_import(*, rows: Sequence[ProductRow]) -> tuple[int, int]:
    """Create or update products by SKU, all or nothing. Returns (created, updated)."""
    created = updated = 0
    with transaction.atomic():
        existing = Product.objects.filter(sku__in=[row.sku for row in rows])
        products_lock(product_ids=existing.values_list("pk", flat=True))
        catalog_bump_on_commit()
        # Categories match by slug, so "Coffee gear" and "coffee gear" are one category.
        categories = {c.slug: c for c in Category.objects.all()}
        for row in rows:
            slug = slugify(row.category)
            category = categories.get(slug)
            if category is None:
                category = categories[slug] = Category.objects.create(name=row.category, slug=slug)
            fields = {
                "name": row.name,
                "price": row.price,
                "category": category,
                "backorder_policy": row.backorder_policy,
                "backorder_limit": row.backorder_limit,
                "lead_time_days": row.lead_time_days,
                "description": row.description,
            }
            if row.backorder_discount_percent is not None:
                fields["backorder_discount_percent"] = row.backorder_discount_percent
            _, was_created = Product.objects.update_or_create(
                sku=row.sku,
                defaults=fields,
                create_defaults={**fields, "slug": product_slug(row.sku)},
            )
            created += was_created
            updated += not was_created
    return created, updated
