"""Salesforce Bulk API 2.0 CSV (query results) read as a stream into ``DealInput``\\s.

What Salesforce's Bulk API 2.0 writes, and so what is read:

* a header line of Opportunity field names (relationship paths dotted: ``Owner.Email``),
  then one record a line, values quoted when needed (a cell may hold several lines);
* LF or CRLF line endings (``lineEnding``), and any of its column delimiters
  (``columnDelimiter``: ``COLUMN_DELIMITERS``);
* several result pages in one body, as a client that joins the pages of a job writes them:
  each page starts with its header line again, and a page may order its columns
  differently. A line is a new page's header when it has the cells ``Id`` and
  ``SystemModstamp``, or an ``Id`` cell and no Salesforce id under the current page's ``Id``
  column;
* a column missing from a page's header is absent from its records (the stored value
  stays: the partial-record rule); an empty cell is present and empty.

The body is read a line at a time (``pse_crm.api.parsers.utf8_lines``): memory holds the
records read so far, never the body, its text and its rows together. Past
``API_MAX_DEAL_CSV_ROWS`` records it stops with a 413 before reading further. Problems are
reported by 1-based line in the whole body (the first line of a record that spans
several); all or nothing. After ``MAX_REPORTED_ERRORS`` problems reading stops: the batch is
refused anyway, and the report stays small.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from typing import BinaryIO

from django.utils.translation import gettext as _

from activities.deal_inputs import (
    DealInput,
    DealInputInvalid,
    DealRecordError,
    read_deal_record,
    salesforce_fields,
)
from pse_crm.api.limits import batch_too_large, max_deal_csv_rows
from pse_crm.api.parsers import NotUTF8, utf8_lines

__all__ = ["COLUMN_DELIMITERS", "MAX_REPORTED_ERRORS", "deal_inputs_from_csv"]

# Bulk API 2.0's ``columnDelimiter`` values and the character each one names.
COLUMN_DELIMITERS: dict[str, str] = {
    "COMMA": ",",
    "TAB": "\t",
    "PIPE": "|",
    "SEMICOLON": ";",
    "CARET": "^",
    "BACKQUOTE": "`",
}
MAX_REPORTED_ERRORS = 1000
_REQUIRED_COLUMNS = ("Id", "SystemModstamp")
_SALESFORCE_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")


class _Stop(Exception):
    """Enough problems found: stop reading."""


def _header(values: list[str], line: int, errors: list[DealRecordError]) -> list[str] | None:
    """A page's column names, or None (its problems in ``errors``)."""
    names = [v.strip().removeprefix("\ufeff") for v in values]
    before = len(errors)
    for required in _REQUIRED_COLUMNS:
        if required not in names:
            errors.append(DealRecordError(line, required, _("This column is required.")))
    seen: set[str] = set()
    for name in names:
        if name in seen:
            errors.append(DealRecordError(line, name, _("This column appears twice.")))
        seen.add(name)
    return None if len(errors) > before else names


def _is_header(values: list[str], id_column: int) -> bool:
    """A repeated header: cells ``Id`` and ``SystemModstamp``, or no Salesforce id under the
    ``Id`` column and a cell ``Id`` (a header written with spaces or a byte-order mark).

    A field name may look like an id (``CurrencyIsoCode`` has 15 letters): the required
    names decide first.
    """
    if "Id" in values and "SystemModstamp" in values:
        return True
    under_id = values[id_column].strip() if id_column < len(values) else ""
    if _SALESFORCE_ID.fullmatch(under_id):
        return False  # a record (the common case, decided without looking further)
    return any(v.strip().removeprefix("\ufeff") == "Id" for v in values)


def _lines(body: BinaryIO | bytes) -> Iterator[str]:
    if isinstance(body, bytes | bytearray | memoryview):
        body = io.BytesIO(body)
    return utf8_lines(body)


def deal_inputs_from_csv(
    body: BinaryIO | bytes,
    *,
    delimiter: str = ",",
    partner_field: str,
    rep_field: str,
    rep_match: str,
) -> list[DealInput]:
    """Read a Bulk API 2.0 CSV (one or several result pages) from ``body``, a binary
    stream (read to its end, a line at a time) or bytes.

    ``delimiter`` is the column delimiter, a character or its Bulk API name (``TAB``).
    Raises ``DealInputInvalid`` (rows are 1-based line numbers, ``by_line``) and
    ``PayloadTooLarge`` past ``API_MAX_DEAL_CSV_ROWS`` records (or the body limit).
    """
    delimiter = COLUMN_DELIMITERS.get(delimiter, delimiter)
    if delimiter not in COLUMN_DELIMITERS.values():
        raise ValueError(f"not a Bulk API column delimiter: {delimiter!r}")
    limit = max_deal_csv_rows()
    fields = salesforce_fields(partner_field, rep_field, rep_match)
    reader = csv.reader(_lines(body), delimiter=delimiter, strict=True)
    errors: list[DealRecordError] = []
    out: list[DealInput] = []
    header: list[str] | None = None
    id_column = 0
    records = 0
    present: dict[frozenset[str], frozenset[str]] = {}

    def problem(line: int, field: str, message: str) -> None:
        errors.append(DealRecordError(line, field, message))
        if len(errors) >= MAX_REPORTED_ERRORS:
            raise _Stop

    try:
        while True:
            line = reader.line_num + 1  # where the next record starts
            try:
                values = next(reader)
            except StopIteration:
                break
            if not values or values == [""]:
                continue
            if header is None or _is_header(values, id_column):
                header = _header(values, line, errors)
                if header is None:
                    # Without a usable header no record of this page can be read.
                    raise _Stop
                id_column = header.index("Id")
                continue
            records += 1
            if records > limit:
                raise batch_too_large(limit)
            if len(values) != len(header):
                problem(
                    line,
                    "",
                    _("Expected %(want)d values, found %(got)d.")
                    % {"want": len(header), "got": len(values)},
                )
                continue
            before = len(errors)
            deal = read_deal_record(
                line, dict(zip(header, values, strict=True)), fields, text=True, errors=errors
            )
            if deal is not None:
                # Every record of a page names the same fields: one set for all of them
                # (a set per record would be half the memory the records take).
                deal.present = present.setdefault(deal.present, deal.present)
                out.append(deal)
            elif len(errors) >= MAX_REPORTED_ERRORS > before:
                raise _Stop
    except _Stop:
        pass
    except NotUTF8 as exc:
        errors.append(DealRecordError(exc.line, "", _("This line is not UTF-8 text.")))
    except csv.Error as exc:
        errors.append(
            DealRecordError(reader.line_num, "", _("Malformed CSV: %(error)s") % {"error": exc})
        )
    if header is None and not errors:
        errors.append(DealRecordError(1, "", _("The CSV body has no header line.")))
    if errors:
        raise DealInputInvalid(errors, by_line=True)
    return out
