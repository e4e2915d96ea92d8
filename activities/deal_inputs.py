"""Deal records as clients send them, turned into one validated shape for ``deal_sync``.

``salesforce_fields`` maps Opportunity fields to ``DealInput`` attributes and their readers;
``read_deal_record`` reads one record by it, strictly (every bad value is reported, none
guessed). Every shape is read through them: query pages and lists here and in
``activities.deal_shapes`` (with change events and getDeleted), Bulk API CSV in
``activities.deal_csv``, Outbound Messages in ``activities.outbound``.

Partial records: a field absent from a record is absent from its ``DealInput``
(``present`` names those carried), so ``deal_sync`` keeps the stored value; a field
present and null (an empty cell in text) is present and empty.

The tenant's sync settings name the fields carrying the partner and the rep. A field may
be a relationship path (``Owner.Email``): nested objects in JSON (a null relationship
makes it present and null), a dotted header in CSV.

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
  read back; PostgreSQL stores wider). Epoch milliseconds (a number or an all-digits
  string) are refused where a date or a date and time is expected.
* The text ``null`` in a number or a date is refused: an empty value is empty.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _

from pse_crm.sfid import InvalidSalesforceId, to_18
from pse_crm.text import name_clean, shown, text_problem

__all__ = [
    "ALL_ATTRIBUTES",
    "API_FIELDS",
    "CURRENCY_CODE",
    "RESYNC_ALL",
    "DealGap",
    "DealInput",
    "DealInputInvalid",
    "DealRecordError",
    "deal_inputs_from_api_list",
    "deal_inputs_from_records",
    "deal_inputs_from_salesforce",
    "field_reader",
    "read_deal_record",
    "salesforce_fields",
]

CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")  # an ISO 4217 code, as Salesforce sends it
_ID_LIKE = re.compile(r"^[A-Za-z0-9]{15}$|^[A-Za-z0-9]{18}$")
_MAX_AMOUNT = Decimal("1e16")
_BIGINT = 2**63

# Every attribute a record can carry: a DealInput built without ``present`` is a full one.
ALL_ATTRIBUTES = frozenset(
    (
        "sf_id",
        "system_modstamp",
        "name",
        "amount",
        "converted_amount",
        "currency",
        "stage",
        "is_closed",
        "is_won",
        "is_deleted",
        "close_date",
        "sf_created_at",
        "sf_last_modified_at",
        "partner_key",
        "rep_key",
    )
)


@dataclass(frozen=True, slots=True)
class DealRecordError:
    """One problem in one record: ``row`` is its index (JSON) or its line (CSV)."""

    row: int
    field: str
    message: str


@dataclass(frozen=True, slots=True)
class DealGap:
    """An Opportunity id (or ``RESYNC_ALL``) whose changes were lost in transit (a change
    event ``GAP_*`` or ``GAP_OVERFLOW``): listed for a resync until a fetched record of it
    arrives."""

    sf_id: str
    reason: str


# The resync entry of an overflow event (no record ids): every Opportunity, in Salesforce's
# own notation for all records of an object (its key prefix and a wildcard).
RESYNC_ALL = "006*"


class DealInputInvalid(Exception):
    """Raised with every problem found; nothing of the batch may be written."""

    def __init__(self, errors: Sequence[DealRecordError], *, by_line: bool = False):
        self.errors = list(errors)
        self.by_line = by_line
        super().__init__(f"{len(self.errors)} invalid deal record field(s)")


@dataclass(slots=True)
class DealInput:
    """One opportunity version, validated and normalised (ids in 18-character form).

    ``present`` names the attributes the record carried: ``deal_sync`` changes only those
    on a stored deal, and gives a new deal the defaults below for the others. A present
    attribute may be empty (``None`` or ``""``): the stored value is then emptied.
    ``currency`` ``""`` means none given: the tenant's corporate currency.
    """

    row: int
    sf_id: str
    system_modstamp: dt.datetime
    name: str = ""
    amount: Decimal | None = None
    converted_amount: Decimal | None = None
    currency: str = ""
    stage: str = ""
    is_closed: bool = False
    is_won: bool = False
    is_deleted: bool = False
    close_date: dt.date | None = None
    sf_created_at: dt.datetime | None = None
    sf_last_modified_at: dt.datetime | None = None
    partner_key: str = ""
    rep_key: str = ""
    present: frozenset[str] = ALL_ATTRIBUTES
    # A record as fetched (query page, list, CSV, Outbound Message): it clears the id from
    # the resync list. False for a change event and a getDeleted entry.
    fetched: bool = True


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


def _literal_null(value: Any) -> bool:
    """The text ``null``: a writer's placeholder for no value, never a value itself."""
    return isinstance(value, str) and value.strip().lower() == "null"


def _null_text() -> str:
    return _("The text null is not a value: leave the value empty (or send JSON null).")


def _read_decimal(value: Any, text: bool) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if _literal_null(value):
        raise _Bad(_null_text())
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


def _epoch() -> str:
    return _(
        "Epoch milliseconds are not accepted here: send an ISO 8601 date "
        "(YYYY-MM-DD) or a date and time with a time zone."
    )


def _read_iso(value: Any, parse: Callable[[str], Any], problem: Callable[[], str]) -> Any:
    """``parse`` of an ISO 8601 string; None for none or ""; ``problem()`` (the message,
    translated only when needed) for anything else.

    A number or an all-digits string is refused as epoch time (ISO 8601's basic format
    ``20260331`` is never what Salesforce sends; an epoch read as one would be wrong).
    """
    if value is None or value == "":
        return None
    if _literal_null(value):
        raise _Bad(_null_text())
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise _Bad(_epoch())
    if not isinstance(value, str):
        raise _Bad(problem())
    value = value.strip()
    if value.isascii() and value.isdigit():
        raise _Bad(_epoch())
    try:
        return parse(value)
    except ValueError:
        raise _Bad(problem()) from None


def _read_date(value: Any, text: bool) -> dt.date | None:
    return _read_iso(value, dt.date.fromisoformat, lambda: _("Expected a date (YYYY-MM-DD)."))


def _read_datetime(value: Any, text: bool) -> dt.datetime | None:
    parsed = _read_iso(
        value,
        dt.datetime.fromisoformat,
        lambda: _("Expected a date and time (ISO 8601 with a time zone)."),
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
    """An ISO code, or "" for none (``deal_sync`` reads it as the corporate currency)."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or not CURRENCY_CODE.match(value.strip()):
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


Reader = Callable[[Any, bool], Any]
Fields = Mapping[str, tuple[str, Reader]]

# Opportunity field -> (DealInput attribute, reader). Id and SystemModstamp are required.
_SF_FIELDS: dict[str, tuple[str, Reader]] = {
    "Id": ("sf_id", _read_id),
    "Name": ("name", lambda v, t: _read_name(v, t, 255)),
    "Amount": ("amount", _read_decimal),
    # The alias of ``convertCurrency(Amount)`` in SOQL: the amount in the corporate currency.
    "convertedAmount": ("converted_amount", _read_decimal),
    "ConvertedAmount": ("converted_amount", _read_decimal),
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

# The API's own names (a plain JSON list), same readers.
API_FIELDS: dict[str, Reader] = dict(_SF_FIELDS.values())
API_FIELDS["partner_key"] = _partner_key


def _lookup(record: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    """Read ``path`` (``Owner.Email`` walks nested objects) from a record; (found, value).

    A relationship that is null (``"Owner": null``, as Salesforce sends an empty lookup)
    makes every path through it present and null.
    """
    if path in record:
        return True, record[path]
    value: Any = record
    for part in path.split("."):
        if value is None:
            return True, None
        if not isinstance(value, Mapping) or part not in value:
            return False, None
        value = value[part]
    return True, value


def read_deal_record(
    row: int,
    record: Mapping[str, Any],
    fields: Fields,
    *,
    text: bool,
    errors: list[DealRecordError],
    version: dt.datetime | None = None,
    fetched: bool = True,
) -> DealInput | None:
    """One record read by ``fields`` (from ``salesforce_fields``): a ``DealInput``, or None
    with its problems appended to ``errors`` (``row`` names the record in each).

    A key absent from ``record`` leaves its attribute absent (a partial record: the stored
    value stays); a key present with None, or ``""`` when ``text``, is present and empty.
    ``text`` is True for CSV and XML, where every value arrives as a string. ``Id`` and
    ``SystemModstamp`` are required; ``version`` (a change event's commit time) stands for
    ``SystemModstamp`` when given.
    """
    values: dict[str, Any] = {}
    failed: set[str] = set()
    before = len(errors)
    for source, (attr, reader) in fields.items():
        if version is not None and attr == "system_modstamp":
            continue
        if source in record:
            raw = record[source]
        elif "." not in source:
            continue  # absent
        else:
            found, raw = _lookup(record, source)
            if not found:
                continue
        try:
            values[attr] = reader(raw, text)
        except _Bad as exc:
            failed.add(attr)
            errors.append(DealRecordError(row, source, str(exc)))
    if version is not None:
        values["system_modstamp"] = version
    for attr in _REQUIRED:
        if values.get(attr) is None and attr not in failed:
            name = next((s for s, (a, _r) in fields.items() if a == attr), attr)
            errors.append(DealRecordError(row, name, _("This field is required.")))
    if len(errors) > before:
        return None
    return DealInput(row=row, present=frozenset(values), fetched=fetched, **values)


def field_reader(name: str) -> Reader:
    """The reader of one Opportunity field (``Id``, ``SystemModstamp``, …)."""
    return _SF_FIELDS[name][1]


def salesforce_fields(
    partner_field: str, rep_field: str, rep_match: str
) -> dict[str, tuple[str, Reader]]:
    """The Opportunity fields read from a Salesforce record: field (or relationship path)
    -> (``DealInput`` attribute, reader), with the tenant's partner and rep fields."""
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
    return deal_inputs_from_records(records, salesforce_fields(partner_field, rep_field, rep_match))


def deal_inputs_from_records(records: Sequence[Any], fields: Fields) -> list[DealInput]:
    """Read Salesforce records (a query page's ``records``, or a bare list of them) by
    ``fields`` (from ``salesforce_fields``). Raises ``DealInputInvalid`` (rows are 0-based
    indexes)."""
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
    ``refuse_unknown``, a key not in ``fields`` is an error. A record whose ``attributes``
    name another object than an Opportunity is refused. Raises ``DealInputInvalid``."""
    errors: list[DealRecordError] = []
    out: list[DealInput] = []
    for index, record in enumerate(records):
        if not isinstance(record, Mapping):
            errors.append(DealRecordError(index, "", _("Expected an object.")))
            continue
        attributes = record.get("attributes")
        if isinstance(attributes, Mapping) and attributes.get("type", "Opportunity") != (
            "Opportunity"
        ):
            errors.append(
                DealRecordError(index, "attributes.type", _("Expected an Opportunity record."))
            )
            continue
        if refuse_unknown:
            for unknown in sorted(set(record) - set(fields)):
                errors.append(DealRecordError(index, shown(str(unknown)), _("Unknown field.")))
        deal = read_deal_record(index, record, fields, text=False, errors=errors)
        if deal is not None:
            out.append(deal)
    if errors:
        raise DealInputInvalid(errors)
    return out
