"""Cached fragments of product pages, kept true by a version per product.

A fragment is stored under its product's version; every writer of a product's stock or
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


def product_versions(*, product_ids: Iterable[int]) -> dict[int, str]:
    """{product id: its current version}, one cache round trip (two when some are new)."""
    keys = {_key(pk): pk for pk in product_ids}
    try:
        found = cache.get_many(keys)
        new = {key: uuid.uuid4().hex for key in keys if key not in found}
        if new:
            cache.set_many(new, timeout=None)
    except Exception:  # the cache is down: every fragment is rendered afresh
        logger.exception("product versions unreadable: rendering without cached fragments")
        return {pk: uuid.uuid4().hex for pk in keys.values()}
    versions = found | new
    return {pk: versions[key] for key, pk in keys.items()}


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
    """The fragment `name` of each product, in order: from the cache under the product's
    version and today's date (an inbound falls overdue at midnight), else from
    render(ids of the missing ones) -> {id: html}, which is then cached. The versions
    are read before render reads the rows, so a fragment is never stored under a
    version newer than its data."""
    versions = product_versions(product_ids=product_ids)
    day = timezone.localdate().isoformat()
    keys = {pk: f"fragment:{name}:{pk}:{versions[pk]}:{day}" for pk in product_ids}
    try:
        found = cache.get_many(keys.values())
    except Exception:
        logger.exception("cached fragments unreadable: rendering them all")
        found = {}
    missing = [pk for pk in product_ids if keys[pk] not in found]
    rendered = render(missing) if missing else {}
    if rendered:
        try:
            cache.set_many({keys[pk]: html for pk, html in rendered.items()}, FRAGMENT_SECONDS)
        except Exception:
            logger.exception("fragments not cached")
    return [found[keys[pk]] if keys[pk] in found else rendered[pk] for pk in product_ids]
