"""Text from outside (API bodies, CSV files, Salesforce records): what can be stored, and
how a name is cleaned.

The rule, for every app that reads such text (the ends of a value are stripped first, as
always, which removes any tab or line break there):

* A NUL or a lone surrogate (``"\\ud800"`` in JSON: not Unicode text, it has no UTF-8
  form) is refused wherever it appears: PostgreSQL text cannot hold either.
* Any other control character (C0, DEL, C1) is refused in an id or key, which is compared:
  cleaning one would silently match, or duplicate, another record (a caller may ``keep``
  tab and line breaks where an id is stored exactly as sent).
* It is dropped from a name or label (``name_clean``), which is only shown; tabs and line
  breaks stay (a CSV cell may hold several lines).
* Text put in a header (an email subject) goes through ``one_line``: no line break ever,
  so no name can inject a header.
"""

from __future__ import annotations

import re

from django.utils.translation import gettext as _

__all__ = ["has_surrogate", "name_clean", "one_line", "shown", "text_problem", "unstorable"]

TEXT_CONTROLS = "\t\n\r"  # tab and line breaks: whitespace, not noise

_SURROGATE = re.compile("[\ud800-\udfff]")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_BREAKS = re.compile("[\t\n\x0b\x0c\r\x1c-\x1f\x85\u2028\u2029]+")
_OTHER_CONTROL = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")
_NOISE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def unstorable(value: str) -> bool:
    """Whether ``value`` holds what PostgreSQL text cannot: a NUL or a lone surrogate."""
    return _UNSTORABLE.search(value) is not None


def has_surrogate(value: str) -> bool:
    """Whether ``value`` holds a lone surrogate (no UTF-8 encoder writes one)."""
    return _SURROGATE.search(value) is not None


def text_problem(value: str, *, controls: bool = False, keep: str = "") -> str | None:
    """Why ``value`` cannot be stored (a translated message), or ``None`` when it can.

    ``controls=False`` (ids, keys): any control character is a problem, except those in
    ``keep``. ``controls=True`` (names, labels, free text): only NUL and lone surrogates are.
    """
    if value.isascii() and value.isprintable():  # the common case, checked in C
        return None
    for found in (_UNSTORABLE if controls else _CONTROL).finditer(value):
        char = found.group()
        if char == "\x00":
            return _("Contains a NUL character.")
        if _SURROGATE.match(char):
            return _("Contains a lone surrogate, which is not Unicode text.")
        if char not in keep:
            return _("Contains a control character (U+%(code)04X).") % {"code": ord(char)}
    return None


def name_clean(value: str) -> str:
    """A name as stored: control characters other than tab and line breaks dropped, the
    ends stripped. (Refuse NUL and lone surrogates first, with ``text_problem``.)"""
    if value.isascii() and value.isprintable():
        return value.strip()
    return _NOISE.sub("", value).strip()


def one_line(value: str) -> str:
    """``value`` as one clean line: each run of line breaks and tabs becomes a space, other
    control characters are dropped, a lone surrogate becomes U+FFFD, the ends are stripped.

    Safe for an email subject or any other header (never a line break)."""
    if value.isascii() and value.isprintable():
        return value.strip()
    value = _OTHER_CONTROL.sub("", _BREAKS.sub(" ", value))
    return _SURROGATE.sub("\ufffd", value).strip()


def shown(value: str) -> str:
    """``value`` safe to echo in an error (JSON, a terminal): control characters and lone
    surrogates as ``\\x01`` / ``\\ud800`` escapes."""
    if value.isascii() and value.isprintable():
        return value
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), value)
