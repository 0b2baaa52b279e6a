import ipaddress
import logging

from django.conf import settings

logger = logging.getLogger(__name__)


def client_address(request) -> str:
    """The client's IP address, for rate limits and login lockouts. Behind NUM_PROXIES
    proxies that append to X-Forwarded-For it is the entry the outermost one appended
    (entries further left are the client's own say and can be forged); an entry that
    is not an address counts as no entry."""
    address = request.META.get("REMOTE_ADDR", "")
    if settings.NUM_PROXIES:
        forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        if len(forwarded) >= settings.NUM_PROXIES:
            address = forwarded[-settings.NUM_PROXIES]
    # Some proxies append the client's port: "203.0.113.7:51234", "[2001:db8::1]:443".
    if address.startswith("[") and "]" in address:
        address = address[1 : address.index("]")]
    elif address.count(":") == 1:
        address = address.partition(":")[0]
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        logger.warning("no client address in %r; check NUM_PROXIES", address)
        return "0.0.0.0"  # unknown clients share one bucket: limited, never a crash
