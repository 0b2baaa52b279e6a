import ipaddress

from django.conf import settings


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
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return "0.0.0.0"  # unknown clients share one bucket: limited, never a crash
