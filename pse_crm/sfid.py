"""Salesforce record ids: 15-character (case-sensitive) to 18-character (case-safe) form."""

from __future__ import annotations

import re

_ALNUM = re.compile(r"^[A-Za-z0-9]+$")
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


class InvalidSalesforceId(ValueError):
    pass


_UPPER = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _chunk_suffix(chunk: str) -> str:
    u = _UPPER
    return _SUFFIX[
        (chunk[0] in u)
        | (chunk[1] in u) << 1
        | (chunk[2] in u) << 2
        | (chunk[3] in u) << 3
        | (chunk[4] in u) << 4
    ]


def to_18(value: str) -> str:
    """Return the 18-character form of a 15- or 18-character Salesforce id.

    An 18-character id is checked against its own suffix (a corrupted one is refused).
    """
    value = (value or "").strip()
    if len(value) not in (15, 18) or not _ALNUM.match(value):
        raise InvalidSalesforceId(f"'{value}' is not a 15- or 18-character Salesforce id.")
    base = value[:15]
    # Bit i of each 5-character chunk is set when its i-th character is upper case.
    suffix = _chunk_suffix(base[0:5]) + _chunk_suffix(base[5:10]) + _chunk_suffix(base[10:15])
    if len(value) == 18 and value[15:].upper() != suffix:
        raise InvalidSalesforceId(f"'{value}' has a wrong checksum suffix.")
    return base + suffix
