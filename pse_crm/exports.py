"""Cell values that a spreadsheet shows as text, never runs as a formula.

Excel, LibreOffice and Google Sheets read a cell that starts with one of these characters
as a formula (``=HYPERLINK(...)`` becomes a live link, ``=cmd|...`` can start a program).
A partner, a rep or a material can be named so by anyone who can edit it, and an export
hands that name to whoever opens the file: every CSV and Excel export passes its text
cells through :func:`spreadsheet_safe` (OWASP "CSV Injection": prefix ``'``).
"""

from __future__ import annotations

from typing import TypeVar

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

T = TypeVar("T")


def spreadsheet_safe(value: T) -> T | str:
    """``value`` with a ``'`` in front if it is text that a spreadsheet would read as a
    formula; anything else (numbers, a negative amount included, dates, None) unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value
