"""What Django's Redis cache raises when Redis is unreachable, too slow (the socket
timeout) or refuses a write (full under `noeviction`): redis-py's errors, and the
socket's own."""

from redis.exceptions import RedisError

CACHE_ERRORS = (RedisError, OSError)
