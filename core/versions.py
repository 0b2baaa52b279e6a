"""Versions of what pages show, kept in the cache, and copies kept true by them.

A thing a page shows has a name ("product:12", "order:7") and a version. The service
that changes it gives it a new version once its transaction commits
(versions_bump_on_commit; for products, catalog.services.products_lock does it for
every writer). A reader reads the versions before it reads the rows and keeps what it
made under them, so a copy is never kept under a version newer than its data. A
version that is missing (evicted, or the cache restarted) is replaced by a new one,
which is a miss, never a stale page. Nothing relies on a timer: KEEP_SECONDS only
bounds memory. Copies are also kept with the date they were made on, because an
inbound falls overdue at midnight.
"""

import logging
import uuid
from collections.abc import Callable, Collection, Iterable
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

KEEP_SECONDS = 24 * 60 * 60


# Which products the catalog lists, in which order, under which categories: given a
# new version by every change of a product or category (catalog.cache).
CATALOG_VERSION = "catalog"


def product_version(product_id: int) -> str:
    return f"product:{product_id}"


def order_version(order_id: int) -> str:
    return f"order:{order_id}"


def _key(name: str) -> str:
    return f"version:{name}"


def versions_bump_on_commit(*, names: Iterable[str]) -> None:
    """What these names show is stale once the current transaction commits (at once
    outside a transaction)."""
    keys = [_key(name) for name in names]
    if keys:
        transaction.on_commit(lambda: _bump(keys))


def _bump(keys: list[str]) -> None:
    try:
        cache.delete_many(keys)  # a missing version is a new one: the next read misses
    except Exception:
        logger.exception("versions not bumped: cached pages may be stale")


def versions_read(*, names: Collection[str], keys: Collection[str] = ()) -> tuple[dict, dict]:
    """({name: its stamp}, {key: cached value}) in one round trip (two when a name had
    no version yet, which gets a new one). A stamp is the version and today's date.
    Raises whatever the cache raises."""
    version_keys = {name: _key(name) for name in names}
    found = cache.get_many([*version_keys.values(), *keys])
    new = {key: uuid.uuid4().hex for key in version_keys.values() if key not in found}
    if new:
        # Kept as long as what is kept under them: a version gone is a new one, a miss.
        cache.set_many(new, timeout=KEEP_SECONDS)
    day = timezone.localdate().isoformat()
    stamps = {name: (found.get(key) or new[key], day) for name, key in version_keys.items()}
    return stamps, {key: found[key] for key in keys if key in found}


# The names each key's value showed last, as this process saw them: only which
# versions to read along with the value, in the same round trip. What is kept, and
# whether it holds, is decided by the cache alone.
_SHOWN: dict[str, tuple[str, ...]] = {}
_SHOWN_MAX = 10_000


def versioned(*, key: str, make: Callable[[], tuple[Any, Collection[str] | None]]) -> Any:
    """The value kept at `key` while the versions of the names it shows still hold;
    else make() -> (value, the names it shows, or None not to keep it), kept for next
    time.

    The names a value shows are known only once it is made (an order's products, a
    product's alternatives), so the first value kept is a hint that lists them without
    a stamp; the next request reads their versions before make() and keeps the value
    under them. A make() that shows other names than the hint only updates the hint."""
    kept_key = f"versioned:{key}"
    try:
        shows = _SHOWN.get(key, ())
        stamps, found = versions_read(names=shows, keys=[kept_key])
        hint = found.get(kept_key)
        if hint and hint[0] != shows:  # another process made it since: read its names
            shows = hint[0]
            stamps = versions_read(names=shows)[0]
    except Exception:
        logger.exception("cache unreadable: %s made afresh", key)
        return make()[0]
    stamp = (timezone.localdate().isoformat(), *(stamps[name] for name in shows))
    if hint and hint[1] == stamp:
        _remember(key, shows)
        return hint[2]
    value, names = make()
    if names is None:  # not to be kept
        return value
    names = tuple(sorted(set(names)))
    kept = (names, stamp, value) if hint and names == shows else (names, None, None)
    try:
        cache.set(kept_key, kept, KEEP_SECONDS)
    except Exception:
        logger.exception("%s not kept", key)
    _remember(key, names)
    return value


def _remember(key: str, names: tuple[str, ...]) -> None:
    if len(_SHOWN) >= _SHOWN_MAX:
        _SHOWN.clear()
    _SHOWN[key] = names
