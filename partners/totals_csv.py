"""Partner totals as CSV: encoding, header, cells. The rules of a total (period, currency,
overlap, negatives) and the write are ``web.services.partner_totals``: this module only
reads text into typed records, each with its line number.

The columns are the API's field names. ``partner`` is the partner's id (digits), its
Salesforce Account Id (15 or 18 characters) or its exact name. Dates are ``YYYY-MM-DD``
(``YYYY/MM/DD`` too, as Japanese Excel writes them). ``competing_product_names`` is a list
separated by ``;``. Blank lines are skipped; extra columns are ignored.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _

from partners.models import Partner
from partners.selectors import partners_by_keys
from pse_crm.csv_text import NotCsvText, csv_text

COLUMNS = (
    "partner",
    "period_start",
    "period_end",
    "total_amount",
    "currency",
    "deal_count",
    "competing_products",
    "competing_product_names",
    "source",
    "note",
)
_REQUIRED = ("partner", "period_start", "period_end")
_DATE = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})$")


@dataclass(frozen=True)
class TotalsRowError:
    """Why one record was refused: ``row`` is the CSV line (header = 1) or the JSON index."""

    row: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class PartnerTotalsInvalid(Exception):
    """The batch or file was refused as a whole; nothing was written."""

    def __init__(self, errors: Sequence[TotalsRowError]):
        self.errors = sorted(errors, key=lambda e: (e.row, e.field))
        super().__init__("; ".join(f"{e.row}: {e}" for e in self.errors[:5]))


def _decode(data: bytes) -> str:
    try:
        return csv_text(data)
    except NotCsvText as exc:
        raise PartnerTotalsInvalid([TotalsRowError(1, "", str(exc))]) from None


def _date(value: str) -> dt.date:
    match = _DATE.match(value)
    if not match:
        raise ValueError(_("Expected a date as YYYY-MM-DD."))
    try:
        return dt.date(*(int(g) for g in match.groups()))
    except ValueError:
        raise ValueError(_("%(value)s is not a date.") % {"value": value}) from None


def _decimal(value: str) -> Decimal | None:
    if not value:
        return None
    try:
        number = Decimal(value.replace(",", ""))
    except InvalidOperation:
        raise ValueError(_("Expected a number.")) from None
    if not number.is_finite():
        raise ValueError(_("Expected a number."))
    return number


def _integer(value: str) -> int | None:
    if not value:
        return None
    if not re.fullmatch(r"-?\d+", value.replace(",", "")):
        raise ValueError(_("Expected a whole number."))
    return int(value.replace(",", ""))


def names_from_text(value: str) -> list[str]:
    """``A; B;C`` as ``["A", "B", "C"]`` (full-width ``；`` too)."""
    return [n.strip() for n in re.split("[;；]", value or "") if n.strip()]


def _cells(line: int, row: dict[str, str], errors: list[TotalsRowError]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    parsers = {
        "period_start": _date,
        "period_end": _date,
        "total_amount": _decimal,
        "deal_count": _integer,
        "competing_products": _integer,
    }
    for column in COLUMNS:
        if column not in row:
            continue
        value = (row[column] or "").strip()
        if "\x00" in value:
            errors.append(TotalsRowError(line, column, _("The cell contains a NUL byte.")))
            continue
        if column in _REQUIRED and not value:
            errors.append(TotalsRowError(line, column, _("This cell is required.")))
            continue
        try:
            if column in parsers:
                record[column] = parsers[column](value)
            elif column == "competing_product_names":
                record[column] = names_from_text(value)
            elif column == "currency":
                record[column] = value.upper()
            elif column == "source":
                record[column] = value.lower() or None
            else:
                record[column] = value
        except ValueError as exc:
            errors.append(TotalsRowError(line, column, str(exc)))
    return record


def partner_total_records_from_csv(
    *, data: bytes
) -> tuple[list[tuple[int, dict[str, Any]]], list[TotalsRowError]]:
    """The typed records of a CSV file with their line numbers, and the cells it could not
    read. ``partner`` is still the key as written (see ``partner_totals_resolve``). Raises
    ``PartnerTotalsInvalid`` for a wrong encoding, an empty file or a missing column."""
    reader = csv.reader(io.StringIO(_decode(data), newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise PartnerTotalsInvalid([TotalsRowError(1, "", _("The file is empty."))]) from None
    except csv.Error as exc:
        raise PartnerTotalsInvalid([TotalsRowError(1, "", str(exc))]) from None
    missing = [c for c in _REQUIRED if c not in header]
    if "total_amount" not in header and "deal_count" not in header:
        missing.append("total_amount")
    if missing:
        raise PartnerTotalsInvalid(
            [TotalsRowError(1, column, _("Missing column.")) for column in missing]
        )
    records: list[tuple[int, dict[str, Any]]] = []
    errors: list[TotalsRowError] = []
    line = reader.line_num
    while True:
        start = line + 1
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            line = reader.line_num
            errors.append(
                TotalsRowError(start, "", _("Unreadable CSV: %(error)s") % {"error": exc})
            )
            continue
        line = reader.line_num
        if not fields or all(not f.strip() for f in fields):
            continue
        if len(fields) != len(header):
            errors.append(
                TotalsRowError(
                    start,
                    "",
                    _("Expected %(expected)d columns, found %(found)d.")
                    % {"expected": len(header), "found": len(fields)},
                )
            )
            continue
        before = len(errors)
        record = _cells(start, dict(zip(header, fields, strict=True)), errors)
        if len(errors) == before:
            records.append((start, record))
    return records, errors


def partner_totals_resolve(
    *, tenant, records: list[tuple[int, dict[str, Any]]]
) -> tuple[list[tuple[int, dict[str, Any]]], list[TotalsRowError]]:
    """Replace each record's ``partner`` key (id, Salesforce Account Id or exact name) by
    the tenant's partner (three queries at most, whatever the number of rows)."""
    found = partners_by_keys(tenant=tenant, keys=[str(r["partner"]) for _line, r in records])
    out, errors = [], []
    for line, record in records:
        key = str(record["partner"])
        partner = found.get(key)
        if isinstance(partner, Partner):
            out.append((line, {**record, "partner": partner}))
        elif partner == "ambiguous":
            errors.append(
                TotalsRowError(
                    line,
                    "partner",
                    _(
                        "Several partners are named %(key)s; use the id or the Salesforce Account Id."
                    )
                    % {"key": key},
                )
            )
        else:
            errors.append(TotalsRowError(line, "partner", _("No partner %(key)s.") % {"key": key}))
    return out, errors
