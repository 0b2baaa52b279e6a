"""Cached fragments of product pages, kept true by a version per product.

A fragment is kept with its product's version; every writer of a product's stock or
inbounds locks the product first (catalog.services.products_lock), and the lock gives
the product a new version once the transaction commits, so the next request renders
it again. Nothing relies on a timer: a version that is missing (evicted, or the cache
restarted) is replaced by a new one, which is a miss, never a stale page.
"""

import logging
import uuid
from collections.abc import Callable, Iterable

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

logger = logging.getLogger(__name__)


def _key(product_id: int) -> str:
    return f"product-version:{product_id}"


def product_versions_bump_on_commit(*, product_ids: Iterable[int]) -> None:
    """The products' cached fragments are stale once the current transaction commits
    (at once outside a transaction)."""
    keys = [_key(pk) for pk in product_ids]
    if keys:
        transaction.on_commit(lambda: _bump(keys))


def _bump(keys: list[str]) -> None:
    try:
        cache.delete_many(keys)  # a missing version is a new one: the next read misses
    except Exception:
        logger.exception("product versions not bumped: cached pages may be stale")


FRAGMENT_SECONDS = 24 * 60 * 60  # a bound on memory only: versions keep them true


def product_fragments(
    *, name: str, product_ids: list[int], render: Callable[[list[int]], dict[int, str]]
) -> list[str]:
    """The fragment `name` of each product, in order. A fragment is kept with the
    product's version and the date it was rendered on (an inbound falls overdue at
    midnight) and served while both still hold; the others come from
    render(ids of the missing ones) -> {id: html} and are kept for next time.

    Versions and fragments are read in one cache round trip, and the versions before
    render reads the rows, so a fragment is never kept under a version newer than its
    data. A product without a version gets a new one: a miss, never a stale page."""
    version_keys = {pk: _key(pk) for pk in product_ids}
    fragment_keys = {pk: f"fragment:{name}:{pk}" for pk in product_ids}
    try:
        found = cache.get_many([*version_keys.values(), *fragment_keys.values()])
        new = {key: uuid.uuid4().hex for key in version_keys.values() if key not in found}
        if new:
            cache.set_many(new, timeout=None)
    except Exception:  # the cache is down: every fragment is rendered afresh
        logger.exception("product versions unreadable: rendering without cached fragments")
        return _rendered_in_order(product_ids, render)
    day = timezone.localdate().isoformat()
    stamps = {pk: (found.get(key) or new[key], day) for pk, key in version_keys.items()}
    fragments = {}
    for pk, key in fragment_keys.items():
        stamp, html = found.get(key, (None, ""))
        if stamp == stamps[pk]:
            fragments[pk] = html
    missing = [pk for pk in product_ids if pk not in fragments]
    rendered = render(missing) if missing else {}
    if rendered:
        try:
            kept = {fragment_keys[pk]: (stamps[pk], html) for pk, html in rendered.items()}
            cache.set_many(kept, FRAGMENT_SECONDS)
        except Exception:
            logger.exception("fragments not cached")
    return [fragments[pk] if pk in fragments else rendered[pk] for pk in product_ids]


def _rendered_in_order(product_ids: list[int], render) -> list[str]:
    rendered = render(product_ids) if product_ids else {}
    return [rendered[pk] for pk in product_ids]
