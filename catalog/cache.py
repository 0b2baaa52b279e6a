"""Cached fragments of product pages, kept true by a version per product (core.versions).

Every writer of a product's stock or inbounds locks the product first
(catalog.services.products_lock), and the lock gives the product a new version once
the transaction commits, so the next request renders it again.
"""

import logging
from collections.abc import Callable, Iterable

from django.core.cache import cache

from core.versions import (
    CATALOG_VERSION,
    KEEP_SECONDS,
    product_version,
    versions_bump_on_commit,
    versions_read,
)

logger = logging.getLogger(__name__)


def product_versions_bump_on_commit(*, product_ids: Iterable[int]) -> None:
    """The products' cached fragments and pages are stale once the current transaction
    commits (at once outside a transaction)."""
    versions_bump_on_commit(names=[product_version(pk) for pk in product_ids])


def catalog_bump_on_commit() -> None:
    """The catalog's pages are stale once the current transaction commits: a product or
    category was added, changed or removed (its name, price, category, or the list)."""
    versions_bump_on_commit(names=[CATALOG_VERSION])


def product_fragments(
    *, name: str, product_ids: list[int], render: Callable[[list[int]], dict[int, str]]
) -> list[str]:
    """The fragment `name` of each product, in order. A fragment is kept with the
    product's stamp (its version and the date it was rendered on) and served while it
    still holds; the others come from render(ids of the missing ones) -> {id: html} and
    are kept for next time. Stamps and fragments are read in one cache round trip,
    before render reads the rows."""
    names = {pk: product_version(pk) for pk in product_ids}
    fragment_keys = {pk: f"fragment:{name}:{pk}" for pk in product_ids}
    try:
        stamps, found = versions_read(names=names.values(), keys=fragment_keys.values())
    except Exception:  # the cache is down: every fragment is rendered afresh, none kept
        logger.exception("product versions unreadable: rendering without cached fragments")
        stamps, found = None, {}
    fragments = {}
    for pk, key in fragment_keys.items():
        stamp, html = found.get(key, (None, ""))
        if stamps and stamp == stamps[names[pk]]:
            fragments[pk] = html
    missing = [pk for pk in product_ids if pk not in fragments]
    rendered = render(missing) if missing else {}
    if rendered and stamps:
        try:
            kept = {fragment_keys[pk]: (stamps[names[pk]], html) for pk, html in rendered.items()}
            cache.set_many(kept, KEEP_SECONDS)
        except Exception:
            logger.exception("fragments not cached")
    return [fragments[pk] if pk in fragments else rendered[pk] for pk in product_ids]
