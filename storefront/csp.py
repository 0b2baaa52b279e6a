"""The Content-Security-Policy header, in django-csp's policy format and built by it.

settings.CONTENT_SECURITY_POLICY applies everywhere. On admin pages inline styles are
allowed too, because Django's admin templates and the email previews (whose HTML is
inline-styled for mail clients) use them. Scripts stay 'self' only, and Stripe.js (its
script, card frames and API) when Stripe takes the payments.

The store uses none of django-csp's per-answer features (nonces, policies set by a
view, report-only), so the header is one of a few fixed strings. django-csp's own
middleware built it twice on every answer, a tenth of a kept page's CPU; this one has
django-csp build each string once."""

import functools
from urllib.parse import urlsplit

from csp.constants import HEADER, UNSAFE_INLINE
from csp.utils import build_policy
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@functools.lru_cache(maxsize=16)
def _policy(*, admin: bool, stripe_js_url: str, stripe_api_base: str) -> str:
    """The header for an admin page or a shop page, with Stripe's origins when its
    script's address is given."""
    update = {}
    if admin:
        update["style-src"] = [UNSAFE_INLINE]
    if stripe_js_url:
        stripe_js = _origin(stripe_js_url)
        stripe_api = _origin(stripe_api_base or "https://api.stripe.com")
        update["script-src"] = [stripe_js]
        update["connect-src"] = [stripe_api, stripe_js]
        update["frame-src"] = [stripe_js, "https://hooks.stripe.com"]
    return build_policy(update=update)


@receiver(setting_changed)
def _policy_forget(*, setting, **kwargs):
    if setting == "CONTENT_SECURITY_POLICY":  # a test's override: build them again
        _policy.cache_clear()


class StoreCSPMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if settings.DEBUG and response.status_code in (404, 500):
            return response  # Django's debug pages are styled inline
        stripe = bool(settings.STRIPE_SECRET_KEY)
        policy = _policy(
            # The resolved view's namespace, not reverse() of the admin's address, which
            # costs more than the rest of the header.
            admin="admin" in getattr(request.resolver_match, "namespaces", ()),
            stripe_js_url=settings.STRIPE_JS_URL if stripe else "",
            stripe_api_base=settings.STRIPE_API_BASE if stripe else "",
        )
        if policy:
            response.headers.setdefault(HEADER, policy)
        return response
