"""The store's Redis cache: Django's, with one redis-py client per connection pool.

Django's Redis cache makes a new redis-py client for every cache call, and making one
builds its table of reply parsers, about 170 entries: on a kept page that was a fifth
of the request's CPU (docs/performance.md). A client holds nothing of a call's own,
only the pool, which hands each call (and each thread) its own connection and makes
new ones after a fork, so one client per pool serves every call. Keys are not checked
against memcached's limits (length, spaces), which Redis does not have.

CACHE_ERRORS is what the cache raises when Redis is unreachable, too slow (the socket
timeout) or refuses a write (full under `noeviction`): redis-py's errors, and the
socket's own."""

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient
from redis.exceptions import RedisError

CACHE_ERRORS = (RedisError, OSError)


class _PoolClients(RedisCacheClient):
    def __init__(self, servers, **options):
        super().__init__(servers, **options)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        if pool not in self._clients:
            self._clients[pool] = self._client(connection_pool=pool)
        return self._clients[pool]


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _PoolClients

    def validate_key(self, key):
        pass  # Redis takes any key; memcached's warnings cost more than the read
