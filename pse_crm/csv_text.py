"""The text of an uploaded CSV file: UTF-8 (with or without BOM) or Shift_JIS, as Excel and
Windows write them in Japan. One rule for every CSV import (material views, partner
totals); each reader turns ``NotCsvText`` into its own error of line 1."""

from __future__ import annotations

import codecs
import re

from django.utils.translation import gettext as _

__all__ = ["NotCsvText", "csv_text"]

# Bytes Shift_JIS leaves undefined decode to C1 controls / U+F8F0-U+F8F3 in cp932.
_NOT_SHIFT_JIS = re.compile("[\x80-\x9f\uf8f0-\uf8f3]")


class NotCsvText(ValueError):
    """The bytes are not UTF-8 or Shift_JIS text; the message (translated) says why."""


def csv_text(data: bytes) -> str:
    """``data`` as text: UTF-8 (a BOM is dropped), else Shift_JIS (cp932, as Windows writes
    it). Raises ``NotCsvText`` for UTF-16 (by its BOM) and for bytes that are neither."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise NotCsvText(_("The file is UTF-16; save it as UTF-8 or Shift_JIS."))
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp932")
    except UnicodeDecodeError:
        text = None
    if text is None or _NOT_SHIFT_JIS.search(text):
        raise NotCsvText(_("The file is neither UTF-8 nor Shift_JIS text; check its encoding."))
    return text
