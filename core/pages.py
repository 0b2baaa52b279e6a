"""Whole pages kept in the cache under the versions of what they show (core.versions),
with the parts that differ from one shopper to the next filled in on every answer.

Two parts of a store page belong to the request, not the page: the CSRF token of its
forms and the cart badge in the header. A kept page holds a stand-in for each, and
each answer fills them from the same context processors as a full render. A stand-in
starts with "<", which no escaped text (a product's name, an address) can hold, so
only the template can have put it there. A request with messages waiting (the flash
after a redirect) gets a full render that keeps nothing.
"""

import functools
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from django.contrib.messages import get_messages
from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.template import Context, engines
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from core.versions import versioned

# The per-request context variables, and the value a kept page is rendered with.
_CSRF_STAND_IN = "csrf-stand-in"
_CART_BADGE_STAND_IN = mark_safe("<!-- cart badge -->")
_STAND_INS = {"csrf_token": _CSRF_STAND_IN, "cart_badge": _CART_BADGE_STAND_IN}


@dataclass(frozen=True)
class PageContent:
    template: str
    context: dict[str, Any]
    shows: Collection[str] = field(default_factory=tuple)  # names of versions (core.versions)
    keep: bool = True  # False: answered, but not kept (a page nobody else will ask for)


def page_cached(request, *, key: str, content: Callable[[], PageContent]) -> HttpResponse:
    """The page content() describes, kept at `key` under the versions it shows.
    content() may raise Http404 (nothing is kept)."""
    if len(get_messages(request)):
        return HttpResponse(_filled(request, _render(request, content())))
    html = versioned(key=f"page:{key}", make=lambda: _made(request, content()))
    return HttpResponse(_filled(request, html))


def _made(request, content: PageContent) -> tuple[str, Collection[str] | None]:
    return _render(request, content), content.shows if content.keep else None


def _render(request, content: PageContent) -> str:
    return render_to_string(content.template, {**content.context, **_STAND_INS}, request)


def _filled(request, html: str) -> str:
    """The request's CSRF token and cart badge in place of the stand-ins. The token is
    asked for only by a page with a form (asking sets the CSRF cookie)."""
    csrf_input = _csrf_input()
    if csrf_input in html:
        html = html.replace(csrf_input, csrf_input.replace(_CSRF_STAND_IN, get_token(request)))
    if _CART_BADGE_STAND_IN in html:
        badge = _context_processed(request).get("cart_badge", "")
        html = html.replace(_CART_BADGE_STAND_IN, badge)
    return html


@functools.cache
def _csrf_input() -> str:
    """The CSRF stand-in as {% csrf_token %} renders it."""
    template = engines["django"].from_string("{% csrf_token %}")
    return template.template.render(Context({"csrf_token": _CSRF_STAND_IN}))


def _context_processed(request) -> dict[str, Any]:
    """What the context processors give a full render of this request."""
    values = {}
    for processor in engines["django"].engine.template_context_processors:
        values.update(processor(request))
    return values
