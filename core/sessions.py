"""Sessions read from the cache and written through to the database: Django's cached_db
engine, so a shopper's request reads no session row. With the cache unreachable a
session is read from the database instead, so a Redis outage costs a query, not the
cart. Ending a session still needs the cache: a copy left there would let the ended
session's cookie back in, so that fails loudly (Django's behaviour)."""

import logging

from django.contrib.sessions.backends import cached_db, db
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

CACHE_ERRORS = (RedisError, OSError)


class SessionStore(cached_db.SessionStore):
    def load(self):
        try:
            return super().load()
        except CACHE_ERRORS:
            logger.warning("session read from the database: the cache is unreachable")
            return db.SessionStore.load(self)

    def exists(self, session_key):
        try:
            return super().exists(session_key)
        except CACHE_ERRORS:
            return db.SessionStore.exists(self, session_key)
