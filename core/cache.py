"""The store's Redis cache: Django's, with one redis-py client per connection pool.

Django's Redis cache makes a new redis-py client for every cache call, and making one
builds its table of reply parsers, about 170 entries: on a kept page that was a fifth
of the request's CPU (docs/performance.md). A client holds nothing of a call's own,
only the pool, which hands each call (and each thread) its own connection and makes
new ones after a fork, so one client per pool serves every call. Keys are not checked
against memcached's limits (length, spaces), which Redis does not have. Values are
stored as Django stores them; reading one that is a pickle skips Django's first try
at it as a number (decision 0019).

CACHE_ERRORS is what the cache raises when Redis is unreachable, too slow (the socket
timeout) or refuses a write (full under `noeviction`): redis-py's errors, and the
socket's own."""

import pickle

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient, RedisSerializer
from redis.exceptions import RedisError

CACHE_ERRORS = (RedisError, OSError)


class _Serializer(RedisSerializer):
    def loads(self, data):
        # Django's tries int() first, and the ValueError each pickle raises cost more
        # than unpickling it: a kept catalog page reads 26 pickled values. Every pickle
        # of protocol 2 and up (Django writes the highest) starts with PROTO; a number,
        # stored as its digits so that Redis can increment it, never does.
        if data[:1] == pickle.PROTO:
            return pickle.loads(data)
        return super().loads(data)


class _PoolClients(RedisCacheClient):
    def __init__(self, servers, **options):
        super().__init__(servers, **{"serializer": _Serializer, **options})
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
