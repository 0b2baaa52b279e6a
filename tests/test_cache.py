"""The store's Redis cache (core.cache): Django's, with one redis-py client per
connection pool, made once and shared by every call, thread and forked process."""

import multiprocessing
import threading
import warnings

import pytest
import redis
from django.core.cache import caches

from tests.test_worker import redis_flush

REDIS_URL = "redis://127.0.0.1:6379/11"  # a database of its own, flushed per test


@pytest.fixture
def redis_cache(settings):
    redis_flush(REDIS_URL)
    settings.CACHES = {
        **settings.CACHES,
        "redis": {"BACKEND": "core.cache.RedisCache", "LOCATION": REDIS_URL},
        "django": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL},
    }
    yield caches["redis"]
    caches["redis"].close()
    caches["django"].close()


VALUES = [0, 42, -7, 2**70, "42", "-7", b"\x80\x05", 4.5, None, ("names",), {"a": [1]}, "é" * 3000]


@pytest.mark.parametrize("value", VALUES, ids=lambda value: type(value).__name__)
def test_values_read_as_djangos_backend_reads_them(redis_cache, value):
    # Both ways, as during a deploy that runs old and new processes side by side.
    caches["django"].set("from-django", value)
    redis_cache.set("from-the-store", value)
    assert redis_cache.get("from-django", "missing") == value
    assert caches["django"].get("from-the-store", "missing") == value
    assert type(redis_cache.get("from-django")) is type(value)


def test_a_counter_still_counts(redis_cache):
    redis_cache.set("hits", 1)
    assert redis_cache.incr("hits") == 2 and redis_cache.get("hits") == 2


def test_every_call_shares_one_client(redis_cache, monkeypatch):
    made = []
    real_init = redis.Redis.__init__
    monkeypatch.setattr(
        redis.Redis, "__init__", lambda self, *a, **kw: made.append(1) or real_init(self, *a, **kw)
    )
    for n in range(10):
        redis_cache.set(f"k{n}", n)
        assert redis_cache.get(f"k{n}") == n
        assert redis_cache.get_many([f"k{n}", "missing"]) == {f"k{n}": n}
        redis_cache.delete(f"k{n}")
    assert len(made) == 1


def test_threads_each_read_their_own_values(redis_cache):
    wrong = []

    def use(thread: int) -> None:
        for n in range(200):
            redis_cache.set(f"t{thread}:{n}", (thread, n))
            if redis_cache.get(f"t{thread}:{n}") != (thread, n):
                wrong.append((thread, n))

    threads = [threading.Thread(target=use, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []


def _child_writes(cache_name: str) -> None:
    caches[cache_name].set("child", "hello")


def test_a_forked_process_gets_connections_of_its_own(redis_cache):
    redis_cache.set("parent", 1)  # the client and a connection, before the fork
    child = multiprocessing.get_context("fork").Process(target=_child_writes, args=("redis",))
    child.start()
    child.join(timeout=30)
    assert child.exitcode == 0
    assert redis_cache.get("child") == "hello"
    assert redis_cache.get("parent") == 1


def test_keys_memcached_would_refuse_are_kept_without_a_warning(redis_cache):
    key = "a key with spaces " * 20  # 360 characters
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        redis_cache.set(key, "kept")
        assert redis_cache.get(key) == "kept"
