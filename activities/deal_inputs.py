"""Deal records as clients send them, turned into one validated shape for ``deal_sync``.

Three input shapes are read, each strictly (every bad value is reported, none guessed):

* a Salesforce REST query response (``totalSize``, ``done``, ``nextRecordsUrl``,
  ``records`` with their ``attributes`` block and Opportunity field names);
* a plain JSON list in the API's own field names (``sf_id``, ``system_modstamp``, …);
* a Bulk API CSV export (a header of Opportunity field names, values as text).

The tenant's sync settings name the fields carrying the partner and the rep. A field may
be a relationship path (``Owner.Email``): nested objects in JSON, a dotted header in CSV.

Hostile values are refused per record with the field named, never passed on to the
database (``pse_crm.text`` holds the rule):

* A NUL or a lone surrogate is refused in every text field.
* Names (``Name``, ``StageName``) lose their other control characters; tabs and line
  breaks stay (a Bulk API cell may hold several lines).
* Ids and keys (``Id``, the partner and rep keys) refuse any control character (the ends
  are stripped first, as always). A key may be a string or a whole number with
  ``|n| < 2**63`` (a numeric custom field), kept as its decimal text; never a float or a
  bool. ``Id`` is always a string.
* Dates and times must fall in the years 1 to 9999 once converted to UTC (what Python can
  read back; PostgreSQL stores wider).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _

from pse_crm.sfid import InvalidSalesforceId, to_18
from pse_crm.text import name_clean, shown, text_problem

__all__ = [
    "API_FIELDS",
    "DealInput",
    "DealInputInvalid",
    "DealRecordError",
    "deal_inputs_from_api_list",
    "deal_inputs_from_csv",
    "deal_inputs_from_salesforce",
]

_CURRENCY = re.compile(r"^[A-Z]{3}$")
_ID_LIKE = re.compile(r"^[A-Za-z0-9]{15}$|^[A-Za-z0-9]{18}$")
_MAX_AMOUNT = Decimal("1e16")
_BIGINT = 2**63
DEFAULT_CURRENCY = "JPY"


@dataclass(frozen=True, slots=True)
class DealRecordError:
    """One problem in one record: ``row`` is its index (JSON) or its line (CSV)."""

    row: int
    field: str
    message: str


class DealInputInvalid(Exception):
    """Raised with every problem found; nothing of the batch may be written."""

    def __init__(self, errors: Sequence[DealRecordError], *, by_line: bool = False):
        self.errors = list(errors)
        self.by_line = by_line
        super().__init__(f"{len(self.errors)} invalid deal record field(s)")


@dataclass(slots=True)
class DealInput:
    """One opportunity version, validated and normalised (ids in 18-character form)."""

    row: int
    sf_id: str
    system_modstamp: dt.datetime
    name: str = ""
    amount: Decimal | None = None
    currency: str = DEFAULT_CURRENCY
    stage: str = ""
    is_closed: bool = False
    is_won: bool = False
    is_deleted: bool = False
    close_date: dt.date | None = None
    sf_created_at: dt.datetime | None = None
    sf_last_modified_at: dt.datetime | None = None
    partner_key: str = ""
    rep_key: str = ""


class _Bad(ValueError):
    pass


# --- value readers: ``text`` is True for CSV, where every value arrives as a string ---------


def _read_text(value: Any, text: bool, max_length: int) -> str:
    """A key: no control character."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _Bad(_("Expected a string."))
    value = value.strip()
    problem = text_problem(value)
    if problem is not None:
        raise _Bad(problem)
    if len(value) > max_length:
        raise _Bad(_("At most %(n)d characters.") % {"n": max_length})
    return value


def _read_name(value: Any, text: bool, max_length: int) -> str:
    """A name: NUL and lone surrogates refused, other control characters cleaned away."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _Bad(_("Expected a string."))
    problem = text_problem(value, controls=True)
    if problem is not None:
        raise _Bad(problem)
    value = name_clean(value)
    if len(value) > max_length:
        raise _Bad(_("At most %(n)d characters.") % {"n": max_length})
    return value


def _read_key(value: Any, text: bool) -> str:
    """A partner or rep key: a string, or a whole number a bigint holds (as its text)."""
    if value.__class__ is int and -_BIGINT < value < _BIGINT:
        return str(value)
    if value is not None and not isinstance(value, str):
        raise _Bad(_("Expected a string or a whole number."))
    return _read_text(value, text, 255)


def _read_bool(value: Any, text: bool) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if text and isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0", ""):
            return False
    raise _Bad(_("Expected true or false."))


def _read_decimal(value: Any, text: bool) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _Bad(_("Expected a number."))
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise _Bad(_("Expected a number.")) from None
    if not number.is_finite():
        raise _Bad(_("Expected a number."))
    if abs(number) >= _MAX_AMOUNT:
        raise _Bad(_("The amount is too large."))
    return number.quantize(Decimal("0.01"))


def _read_iso(value: Any, parse: Callable[[str], Any], problem: str) -> Any:
    """``parse`` of an ISO 8601 string; None for none or ""; ``problem`` for anything else."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _Bad(problem)
    try:
        return parse(value.strip())
    except ValueError:
        raise _Bad(problem) from None


def _read_date(value: Any, text: bool) -> dt.date | None:
    return _read_iso(value, dt.date.fromisoformat, _("Expected a date (YYYY-MM-DD)."))


def _read_datetime(value: Any, text: bool) -> dt.datetime | None:
    parsed = _read_iso(
        value,
        dt.datetime.fromisoformat,
        _("Expected a date and time (ISO 8601 with a time zone)."),
    )
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        raise _Bad(_("The date and time must include a time zone."))
    try:
        return parsed.astimezone(dt.UTC)
    except OverflowError:  # 9999-12-31T23:59:59-14:00 is in the year 10000 in UTC
        raise _Bad(_("Out of range: the time must fall in the years 1 to 9999 in UTC.")) from None


def _read_currency(value: Any, text: bool) -> str:
    if value is None or value == "":
        return DEFAULT_CURRENCY
    if not isinstance(value, str) or not _CURRENCY.match(value.strip()):
        raise _Bad(_("Expected a three-letter ISO currency code."))
    return value.strip()


def _read_id(value: Any, text: bool) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _Bad(_("This field is required."))
    if not isinstance(value, str) or text_problem(value) is not None:
        raise _Bad(_("Not a 15- or 18-character Salesforce id."))
    try:
        return to_18(value)
    except InvalidSalesforceId:
        raise _Bad(_("Not a 15- or 18-character Salesforce id.")) from None


def _partner_key(value: Any, text: bool) -> str:
    key = _read_key(value, text)
    # Account ids are stored in 18-character form; a custom non-id key is kept as sent.
    if _ID_LIKE.match(key):
        try:
            return to_18(key)
        except InvalidSalesforceId:
            raise _Bad(_("Not a 15- or 18-character Salesforce id.")) from None
    return key


def _rep_key_reader(rep_match: str) -> Callable[[Any, bool], str]:
    def read(value: Any, text: bool) -> str:
        key = _read_key(value, text)
        if not key:
            return ""
        if rep_match == "email":
            return key.lower()
        try:
            return to_18(key)
        except InvalidSalesforceId:
            raise _Bad(_("Not a 15- or 18-character Salesforce user id.")) from None

    return read


# Opportunity field -> (DealInput attribute, reader). Id and SystemModstamp are required.
_SF_FIELDS: dict[str, tuple[str, Callable[[Any, bool], Any]]] = {
    "Id": ("sf_id", _read_id),
    "Name": ("name", lambda v, t: _read_name(v, t, 255)),
    "Amount": ("amount", _read_decimal),
    "CurrencyIsoCode": ("currency", _read_currency),
    "StageName": ("stage", lambda v, t: _read_name(v, t, 80)),
    "IsClosed": ("is_closed", _read_bool),
    "IsWon": ("is_won", _read_bool),
    "IsDeleted": ("is_deleted", _read_bool),
    "CloseDate": ("close_date", _read_date),
    "CreatedDate": ("sf_created_at", _read_datetime),
    "LastModifiedDate": ("sf_last_modified_at", _read_datetime),
    "SystemModstamp": ("system_modstamp", _read_datetime),
}
_REQUIRED = ("sf_id", "system_modstamp")

# The API's own names (a plain JSON list), same readers; read by GET /api/v1/deals/ too.
API_FIELDS: dict[str, Callable[[Any, bool], Any]] = dict(_SF_FIELDS.values())
API_FIELDS["partner_key"] = _partner_key


def _lookup(record: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    """Read ``path`` (``Owner.Email`` walks nested objects) from a record; (found, value)."""
    if path in record:
        return True, record[path]
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return False, None
        value = value[part]
    return True, value


def _build(
    row: int,
    values: dict[str, Any],
    errors: list[DealRecordError],
    field_names: Mapping[str, str],
) -> DealInput | None:
    before = len(errors)
    for attr in _REQUIRED:
        if values.get(attr) is None:
            errors.append(DealRecordError(row, field_names[attr], _("This field is required.")))
    if len(errors) > before:
        return None
    return DealInput(row=row, **values)


def _read_record(
    row: int,
    record: Mapping[str, Any],
    fields: Mapping[str, tuple[str, Callable[[Any, bool], Any]]],
    text: bool,
    errors: list[DealRecordError],
) -> DealInput | None:
    values: dict[str, Any] = {}
    before = len(errors)
    for source, (attr, reader) in fields.items():
        if source in record:
            raw = record[source]
        else:
            found, raw = _lookup(record, source)
            if not found:
                continue
        try:
            values[attr] = reader(raw, text)
        except _Bad as exc:
            errors.append(DealRecordError(row, source, str(exc)))
    if len(errors) > before:
        return None
    if values.get("sf_id") is None or values.get("system_modstamp") is None:
        names = {attr: source for source, (attr, _r) in fields.items()}
        return _build(row, values, errors, names)
    return DealInput(row=row, **values)


def _salesforce_fields(partner_field: str, rep_field: str, rep_match: str):
    fields = dict(_SF_FIELDS)
    fields[partner_field] = ("partner_key", _partner_key)
    fields[rep_field] = ("rep_key", _rep_key_reader(rep_match))
    return fields


def deal_inputs_from_salesforce(
    body: Mapping[str, Any], *, partner_field: str, rep_field: str, rep_match: str
) -> list[DealInput]:
    """Read a Salesforce REST query response (one page: ``records`` and paging fields).

    Raises ``DealInputInvalid`` (rows are 0-based indexes into ``records``).
    """
    records = body.get("records")
    if not isinstance(records, list):
        raise DealInputInvalid([DealRecordError(0, "records", _("Expected a list of records."))])
    fields = _salesforce_fields(partner_field, rep_field, rep_match)
    return _read_json_records(records, fields, refuse_unknown=False)


def deal_inputs_from_api_list(records: Sequence[Any], *, rep_match: str) -> list[DealInput]:
    """Read a JSON list in the API's own field names. Unknown fields are refused.

    Raises ``DealInputInvalid`` (rows are 0-based indexes).
    """
    fields = {name: (name, reader) for name, reader in API_FIELDS.items()}
    fields["rep_key"] = ("rep_key", _rep_key_reader(rep_match))
    return _read_json_records(records, fields, refuse_unknown=True)


def _read_json_records(
    records: Sequence[Any],
    fields: Mapping[str, tuple[str, Callable[[Any, bool], Any]]],
    *,
    refuse_unknown: bool,
) -> list[DealInput]:
    """Read each JSON object of ``records`` by ``fields`` (0-based indexes in errors); with
    ``refuse_unknown``, a key not in ``fields`` is an error. Raises ``DealInputInvalid``."""
    errors: list[DealRecordError] = []
    out: list[DealInput] = []
    for index, record in enumerate(records):
        if not isinstance(record, Mapping):
            errors.append(DealRecordError(index, "", _("Expected an object.")))
            continue
        if refuse_unknown:
            for unknown in sorted(set(record) - set(fields)):
                errors.append(DealRecordError(index, shown(str(unknown)), _("Unknown field.")))
        deal = _read_record(index, record, fields, False, errors)
        if deal is not None:
            out.append(deal)
    if errors:
        raise DealInputInvalid(errors)
    return out


def deal_inputs_from_csv(
    data: bytes, *, partner_field: str, rep_field: str, rep_match: str
) -> list[DealInput]:
    """Read a Salesforce Bulk API CSV export (header line, then one record a line).

    Raises ``DealInputInvalid`` (rows are 1-based line numbers; the header is line 1).
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DealInputInvalid(
            [DealRecordError(1, "", _("The CSV body is not UTF-8."))], by_line=True
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    fields = _salesforce_fields(partner_field, rep_field, rep_match)
    errors: list[DealRecordError] = []
    out: list[DealInput] = []
    try:
        header = next(reader, None)
        if not header:
            raise DealInputInvalid(
                [DealRecordError(1, "", _("The CSV body has no header line."))], by_line=True
            )
        header = [h.strip() for h in header]
        for required in ("Id", "SystemModstamp"):
            if required not in header:
                errors.append(DealRecordError(1, required, _("This column is required.")))
        if errors:
            raise DealInputInvalid(errors, by_line=True)
        width = len(header)
        for values in reader:
            line = reader.line_num
            if not values or values == [""]:
                continue
            if len(values) != width:
                errors.append(
                    DealRecordError(
                        line,
                        "",
                        _("Expected %(want)d values, found %(got)d.")
                        % {"want": width, "got": len(values)},
                    )
                )
                continue
            deal = _read_record(line, dict(zip(header, values, strict=True)), fields, True, errors)
            if deal is not None:
                out.append(deal)
    except csv.Error as exc:
        errors.append(
            DealRecordError(reader.line_num, "", _("Malformed CSV: %(error)s") % {"error": exc})
        )
    if errors:
        raise DealInputInvalid(errors, by_line=True)
    return out
