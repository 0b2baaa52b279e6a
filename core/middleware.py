from django.conf import settings
from django.core.exceptions import BadRequest

from core.text import text_problem


class RejectControlCharactersMiddleware:
    """Answer 400 for a request whose path, query, headers, cookies or form fields hold
    control characters (core.text), before any view, form or query sees them: one guard
    for every text input a request can carry, instead of one per view."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        problem = self._problem(request)
        if problem:
            raise BadRequest(f"The request was refused: {problem}.")
        return self.get_response(request)

    @staticmethod
    def _problem(request) -> str:
        if problem := text_problem(request.path):
            return f"its address {problem}"
        # Only the cookies the store reads: a stray cookie of another site's script on
        # the same domain must not lock shoppers out.
        cookies = [
            (name, [request.COOKIES[name]])
            for name in (settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME)
            if name in request.COOKIES
        ]
        # Headers a library may store (django-axes keeps the user agent of a failed login).
        headers = [
            (name, [value])
            for name, value in request.META.items()
            if name.startswith("HTTP_") and name != "HTTP_COOKIE"
        ]
        sources = [("query", request.GET.lists()), ("cookie", cookies), ("header", headers)]
        if request.method == "POST" and request.content_type in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            sources.append(("form", request.POST.lists()))
        for source, fields in sources:
            for name, values in fields:
                for text in (name, *values):
                    if problem := text_problem(text):
                        return f"a {source} field {problem}"
        return ""
