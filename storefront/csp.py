from urllib.parse import urlsplit

from csp.constants import UNSAFE_INLINE
from csp.middleware import CSPMiddleware
from django.conf import settings


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class StoreCSPMiddleware(CSPMiddleware):
    """The policy of settings.CONTENT_SECURITY_POLICY everywhere; on admin pages inline
    styles are allowed too, because Django's admin templates and the email previews
    (whose HTML is inline-styled for mail clients) use them. Scripts stay 'self' only,
    and Stripe.js (its script, card frames and API) when Stripe takes the payments."""

    def get_policy_parts(self, request, response, report_only=False):
        parts = super().get_policy_parts(request, response, report_only)
        update = dict(parts.update or {})
        # The resolved view's namespace, not reverse() of the admin's address: this runs
        # on every response, and reversing costs more than the rest of the policy.
        if "admin" in getattr(request.resolver_match, "namespaces", ()):
            update["style-src"] = [UNSAFE_INLINE]
        if settings.STRIPE_SECRET_KEY:
            stripe_js = _origin(settings.STRIPE_JS_URL)
            stripe_api = _origin(settings.STRIPE_API_BASE or "https://api.stripe.com")
            update["script-src"] = [stripe_js]
            update["connect-src"] = [stripe_api, stripe_js]
            update["frame-src"] = [stripe_js, "https://hooks.stripe.com"]
        parts.update = update or None
        return parts
