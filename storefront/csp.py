from csp.constants import UNSAFE_INLINE
from csp.middleware import CSPMiddleware
from django.urls import reverse


class StoreCSPMiddleware(CSPMiddleware):
    """The policy of settings.CONTENT_SECURITY_POLICY everywhere; on admin pages inline
    styles are allowed too, because Django's admin templates and the email previews
    (whose HTML is inline-styled for mail clients) use them. Scripts stay 'self' only."""

    def get_policy_parts(self, request, response, report_only=False):
        parts = super().get_policy_parts(request, response, report_only)
        if request.path_info.startswith(reverse("admin:index")):
            parts.update = {**(parts.update or {}), "style-src": [UNSAFE_INLINE]}
        return parts
