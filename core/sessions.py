"""Sessions read from the cache and written through to the database: Django's cached_db
engine, so a shopper's request reads no session row, with the cache's faults handled.

- The cache unreachable: a session is read from and saved to the database, so a Redis
  outage costs a query, not the cart.
- The cache refusing a copy (unreachable, or full under `noeviction`): the copy it held
  is removed where it can be, so an older copy is never read instead of the row.
- Ending a session (logout, a staff login, a password change) removes the cached copy
  first and fails, changing nothing, while the cache cannot: a copy left behind would
  let the ended session's cookie back in (decision 0018)."""

import logging
from contextlib import suppress

from django.contrib.sessions.backends import cached_db, db

from core.cache import CACHE_ERRORS

logger = logging.getLogger(__name__)


class SessionStore(cached_db.SessionStore):
    def load(self):
        try:
            data = self._cache.get(self.cache_key)
        except CACHE_ERRORS:
            logger.warning("session read from the database: the cache is unreachable")
            return db.SessionStore.load(self)
        if data is not None:
            return data
        row = self._get_session_from_db()
        if row is None:
            return {}
        data = self.decode(row.session_data)
        self._cache_set(data, self.get_expiry_age(expiry=row.expire_date))
        return data

    def exists(self, session_key):
        try:
            return super().exists(session_key)
        except CACHE_ERRORS:
            return db.SessionStore.exists(self, session_key)

    def save(self, must_create=False):
        db.SessionStore.save(self, must_create)
        self._cache_set(self._session, self.get_expiry_age())

    def delete(self, session_key=None):
        session_key = session_key or self.session_key
        if session_key is None:
            return
        cached = self.cache_key_prefix + session_key
        self._cache.delete(cached)  # the cache unreachable: raises, nothing changed
        db.SessionStore.delete(self, session_key)
        # A request reading the row in between may have put a copy back.
        self._cache.delete(cached)

    def _cache_set(self, data, timeout: int) -> None:
        try:
            self._cache.set(self.cache_key, data, timeout)
        except CACHE_ERRORS:
            logger.warning("session kept in the database only: the cache refused it")
            # Unreachable too: operations.md clears the cache once it is back.
            with suppress(CACHE_ERRORS):
                self._cache.delete(self.cache_key)
