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


# The settings a header is built from: a change (a test's override) builds them again.
_POLICY_SETTINGS = {
    "CONTENT_SECURITY_POLICY",
    "STRIPE_SECRET_KEY",
    "STRIPE_JS_URL",
    "STRIPE_API_BASE",
}


@functools.cache
def _policy(*, admin: bool) -> str:
    """The header for an admin page or a shop page, with Stripe's origins when Stripe
    takes the payments."""
    update = {}
    if admin:
        update["style-src"] = [UNSAFE_INLINE]
    if settings.STRIPE_SECRET_KEY:
        stripe_js = _origin(settings.STRIPE_JS_URL)
        stripe_api = _origin(settings.STRIPE_API_BASE or "https://api.stripe.com")
        update["script-src"] = [stripe_js]
        update["connect-src"] = [stripe_api, stripe_js]
        update["frame-src"] = [stripe_js, "https://hooks.stripe.com"]
    return build_policy(update=update)


@receiver(setting_changed)
def _policy_forget(*, setting, **kwargs):
    if setting in _POLICY_SETTINGS:
        _policy.cache_clear()


class StoreCSPMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if settings.DEBUG and response.status_code in (404, 500):
            return response  # Django's debug pages are styled inline
        # The resolved view's namespace, not reverse() of the admin's address, which
        # costs more than the rest of the header.
        policy = _policy(admin="admin" in getattr(request.resolver_match, "namespaces", ()))
        if policy:
            response.headers.setdefault(HEADER, policy)
        return response
