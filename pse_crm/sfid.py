"""Salesforce record ids: 15-character (case-sensitive) to 18-character (case-safe) form."""

from __future__ import annotations

import re

_ALNUM = re.compile(r"^[A-Za-z0-9]+$")
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


class InvalidSalesforceId(ValueError):
    pass


def to_18(value: str) -> str:
    """Return the 18-character form of a 15- or 18-character Salesforce id.

    An 18-character id is checked against its own suffix (a corrupted one is refused).
    """
    value = (value or "").strip()
    if len(value) not in (15, 18) or not _ALNUM.match(value):
        raise InvalidSalesforceId(f"'{value}' is not a 15- or 18-character Salesforce id.")
    base = value[:15]
    suffix = ""
    for chunk in range(3):
        bits = 0
        for i, ch in enumerate(base[chunk * 5 : chunk * 5 + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << i
        suffix += _SUFFIX[bits]
    if len(value) == 18 and value[15:].upper() != suffix:
        raise InvalidSalesforceId(f"'{value}' has a wrong checksum suffix.")
    return base + suffix


def to_18_or_blank(value: str | None) -> str:
    return to_18(value) if value and value.strip() else ""
