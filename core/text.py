"""The one rule for text from outside (requests, command arguments, imported files):
no control characters but tab and line breaks, and no unpaired surrogates. PostgreSQL
cannot store NUL, a surrogate cannot be encoded for it, and the rest only ever come from
a broken client or an attacker."""

import re

# C0 controls but \t \n \r, DEL, and the surrogates that undecodable bytes in a command
# line or file name turn into (surrogateescape).
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def text_problem(value: str) -> str:
    """Why `value` is refused as text, or '' when it is fine."""
    found = _FORBIDDEN.search(value)
    if found is None:
        return ""
    character = found.group()
    if "\ud800" <= character <= "\udfff":
        return "contains bytes that are not valid UTF-8 text"
    return f"contains the control character U+{ord(character):04X}"
