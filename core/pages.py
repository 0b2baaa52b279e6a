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
from django.template import Context, engines
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from core.versions import versioned

# Per-request context variable: (the value a kept page is rendered with, the template
# that renders the variable).
_STAND_INS = {
    "csrf_token": ("csrf-stand-in", "{% csrf_token %}"),
    "cart_badge": (mark_safe("<!-- cart badge -->"), "{{ cart_badge }}"),
}


@dataclass(frozen=True)
class PageContent:
    template: str
    context: dict[str, Any]
    shows: Collection[str] = field(default_factory=tuple)  # names of versions (core.versions)


def page_cached(request, *, key: str, content: Callable[[], PageContent]) -> HttpResponse:
    """The page content() describes, kept at `key` under the versions it shows.
    content() may raise Http404 (nothing is kept)."""
    if len(get_messages(request)):
        return HttpResponse(_filled(request, _render(request, content())))
    html = versioned(key=f"page:{key}", make=lambda: _made(request, content()))
    return HttpResponse(_filled(request, html))


def _made(request, content: PageContent) -> tuple[str, Collection[str]]:
    return _render(request, content), content.shows


def _render(request, content: PageContent) -> str:
    stand_ins = {name: value for name, (value, _) in _STAND_INS.items()}
    return render_to_string(content.template, {**content.context, **stand_ins}, request)


def _filled(request, html: str) -> str:
    for stand_in, template in _fillers():
        if stand_in in html:
            html = html.replace(stand_in, template.render(request=request))
    return html


@functools.cache
def _fillers() -> list[tuple[str, Any]]:
    """(a stand-in as rendered, the template rendering the request's part)."""
    fillers = []
    for name, (value, source) in _STAND_INS.items():
        template = engines["django"].from_string(source)
        fillers.append((template.template.render(Context({name: value})), template))
    return fillers
