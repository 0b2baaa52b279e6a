import logging

from django_ratelimit.core import is_ratelimited

from core.cache import CACHE_ERRORS

logger = logging.getLogger(__name__)


def rate_limited(request, *, group: str, per_ten_minutes: int) -> bool:
    """Count this request against `per_ten_minutes` requests per client address
    (django-ratelimit, in the shared cache) and say whether it is over. With the cache
    unreachable the request is let through and the fault logged: a customer finding an
    order matters more than the limit for the minutes Redis is down."""
    try:
        rate = f"{per_ten_minutes}/10m"
        return is_ratelimited(request, group=group, key="ip", rate=rate, increment=True)
    except CACHE_ERRORS:
        logger.exception("rate limit %s not counted: the cache is unreachable", group)
        return False
