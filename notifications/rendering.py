from dataclasses import dataclass
from typing import Any

from django.template.loader import render_to_string


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def email_render(*, event: str, context: dict[str, Any]) -> RenderedEmail:
    """Render `notifications/<event>_subject.txt`, `<event>.txt` and `<event>.html`."""
    subject = render_to_string(f"notifications/{event}_subject.txt", context)
    return RenderedEmail(
        subject=" ".join(subject.split()),
        text=render_to_string(f"notifications/{event}.txt", context),
        html=render_to_string(f"notifications/{event}.html", context),
    )
