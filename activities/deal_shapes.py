"""The JSON bodies of ``POST deals/sync/``, told apart by their shape and read into one
``DealBatch`` (the versions to merge, the ids to resync).

* a REST query or queryAll page: ``{"totalSize", "done", "records": [...]}``;
* a bare list of Salesforce records, each with its ``attributes`` (what simple-salesforce's
  ``query_all_iter`` yields);
* a list in the API's own field names (``sf_id``, ``system_modstamp``, …; no ``attributes``);
* Change Data Capture events for Opportunity, as a CometD client receives them
  (``{"schema", "payload": {..., "ChangeEventHeader": {...}}, "event"}``) or the payload
  alone, one event or a list of them;
* a ``getDeleted`` response (``deletedRecords``, ``earliestDateAvailable``,
  ``latestDateCovered``).

Every problem is reported per record (its 0-based index in the list, ``records`` or
``deletedRecords``) with the field named, and nothing of the batch is written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from activities.deal_inputs import (
    RESYNC_ALL,
    DealGap,
    DealInput,
    DealInputInvalid,
    DealRecordError,
    deal_inputs_from_api_list,
    deal_inputs_from_records,
    deal_inputs_from_salesforce,
    field_reader,
    read_deal_record,
    salesforce_fields,
)
from pse_crm.sfid import InvalidSalesforceId, to_18
from pse_crm.text import shown

__all__ = ["CHANGE_TYPES", "DealBatch", "deal_batch_from_json"]

_HEADER = "ChangeEventHeader"
# In Salesforce's order (the API schema lists them so: activities.serializers).
CHANGE_TYPES = (
    "CREATE",
    "UPDATE",
    "DELETE",
    "UNDELETE",
    "GAP_CREATE",
    "GAP_UPDATE",
    "GAP_DELETE",
    "GAP_UNDELETE",
    "GAP_OVERFLOW",
)
# Year 1 to 9999 in epoch milliseconds: what a datetime holds.
_MIN_MS = int(dt.datetime(1, 1, 1, tzinfo=dt.UTC).timestamp() * 1000)
_MAX_MS = int(dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC).timestamp() * 1000)


@dataclass
class DealBatch:
    """What one body asks of ``deal_sync``. ``shape`` names the body's shape."""

    shape: str
    deals: list[DealInput] = field(default_factory=list)
    gaps: list[DealGap] = field(default_factory=list)
    # The last page of a query (done, no nextRecordsUrl): a full queryAll run clears the
    # overflow entry (RESYNC_ALL) of the resync list.
    query_done: bool = False


def _is_event(item: Any) -> bool:
    if not isinstance(item, Mapping):
        return False
    if _HEADER in item:
        return True
    payload = item.get("payload")
    if isinstance(payload, Mapping) and _HEADER in payload:
        return True
    data = item.get("data")  # the CometD envelope of older API versions
    return isinstance(data, Mapping) and isinstance(data.get("payload"), Mapping)


def deal_batch_from_json(
    data: Any, *, partner_field: str, rep_field: str, rep_match: str
) -> DealBatch:
    """Read a JSON body of any shape above. Raises ``DealInputInvalid``; a body of no
    known shape raises ``ValueError`` with the message to answer."""
    fields = salesforce_fields(partner_field, rep_field, rep_match)
    if isinstance(data, Mapping):
        if "records" in data:
            deals = deal_inputs_from_salesforce(
                data, partner_field=partner_field, rep_field=rep_field, rep_match=rep_match
            )
            done = data.get("done") is True and not data.get("nextRecordsUrl")
            return DealBatch("query", deals=deals, query_done=done)
        if "deletedRecords" in data:
            return _get_deleted(data)
        if _is_event(data):
            return _events([data], fields)
        raise ValueError(
            _(
                "Expected a Salesforce query response, a getDeleted response, a change "
                "event, or a JSON array of records or change events."
            )
        )
    if not isinstance(data, list):
        raise ValueError(_("Expected a JSON object or array."))
    kinds = [_kind(item) for item in data]
    found = {k for k in kinds if k is not None}
    if len(found) > 1:
        first = kinds[0] if kinds[0] is not None else next(iter(found))
        errors = [
            DealRecordError(
                index, "", _("This array mixes change events, Salesforce records and API records.")
            )
            for index, kind in enumerate(kinds)
            if kind is not None and kind != first
        ]
        raise DealInputInvalid(errors)
    kind = next(iter(found), "api")
    if kind == "event":
        return _events(data, fields)
    if kind == "salesforce":
        return DealBatch("records", deals=deal_inputs_from_records(data, fields))
    return DealBatch("api", deals=deal_inputs_from_api_list(data, rep_match=rep_match))


def _kind(item: Any) -> str | None:
    if not isinstance(item, Mapping):
        return None
    if _is_event(item):
        return "event"
    if "attributes" in item:
        return "salesforce"
    return "api"


# --- getDeleted ---------------------------------------------------------------------------

_DELETED_FIELDS = {
    "id": ("sf_id", field_reader("Id")),
    "deletedDate": ("system_modstamp", field_reader("SystemModstamp")),
}


def _get_deleted(body: Mapping[str, Any]) -> DealBatch:
    """``{"deletedRecords": [{"id", "deletedDate"}], "earliestDateAvailable",
    "latestDateCovered"}``: each id soft-deleted, ``deletedDate`` its version."""
    entries = body.get("deletedRecords")
    if not isinstance(entries, list):
        raise DealInputInvalid(
            [DealRecordError(0, "deletedRecords", _("Expected a list of deleted records."))]
        )
    errors: list[DealRecordError] = []
    read_time = _DELETED_FIELDS["deletedDate"][1]
    for name in ("earliestDateAvailable", "latestDateCovered"):
        if body.get(name) is not None:
            try:
                read_time(body[name], False)
            except ValueError as exc:
                errors.append(DealRecordError(0, name, str(exc)))
    out: list[DealInput] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            errors.append(DealRecordError(index, "", _("Expected an object.")))
            continue
        deal = read_deal_record(index, entry, _DELETED_FIELDS, text=False, errors=errors)
        if deal is not None:
            deal.is_deleted = True
            deal.present = frozenset(("sf_id", "system_modstamp", "is_deleted"))
            deal.fetched = False
            out.append(deal)
    if errors:
        raise DealInputInvalid(errors)
    return DealBatch("deleted", deals=out)


# --- Change Data Capture ------------------------------------------------------------------


def _payload(item: Mapping[str, Any]) -> Mapping[str, Any] | None:
    if _HEADER in item:
        return item
    if isinstance(item.get("payload"), Mapping):
        return item["payload"]
    data = item.get("data")
    if isinstance(data, Mapping) and isinstance(data.get("payload"), Mapping):
        return data["payload"]
    return None


def _names(value: Any, index: int, name: str, errors: list[DealRecordError]) -> list[str]:
    """A header list of field names (``changedFields``, ``nulledFields``)."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errors.append(DealRecordError(index, name, _("Expected a list of field names.")))
        return []
    if any(v.startswith("0x") for v in value):
        # Pub/Sub API sends bitmaps of the schema's field positions: decode them first.
        errors.append(
            DealRecordError(
                index,
                name,
                _(
                    "Holds Pub/Sub API bitmaps: decode them to field names with the event "
                    "schema first."
                ),
            )
        )
        return []
    return value


def _commit_time(value: Any) -> dt.datetime | None:
    if value.__class__ is not int or not _MIN_MS <= value <= _MAX_MS:
        return None
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=value)


def _events(items: Sequence[Any], fields) -> DealBatch:
    errors: list[DealRecordError] = []
    batch = DealBatch("events")
    for index, item in enumerate(items):
        payload = _payload(item) if isinstance(item, Mapping) else None
        header = payload.get(_HEADER) if payload is not None else None
        if not isinstance(header, Mapping):
            errors.append(DealRecordError(index, _HEADER, _("Expected a change event.")))
            continue
        before = len(errors)
        entity = header.get("entityName")
        if entity != "Opportunity":
            errors.append(
                DealRecordError(
                    index, f"{_HEADER}.entityName", _("Expected an Opportunity change event.")
                )
            )
        change = header.get("changeType")
        if change not in CHANGE_TYPES:
            errors.append(
                DealRecordError(
                    index,
                    f"{_HEADER}.changeType",
                    _("Expected one of: %(types)s.") % {"types": ", ".join(sorted(CHANGE_TYPES))},
                )
            )
        version = _commit_time(header.get("commitTimestamp"))
        if version is None:
            errors.append(
                DealRecordError(
                    index,
                    f"{_HEADER}.commitTimestamp",
                    _("Expected the commit time in milliseconds since 1970 (a whole number)."),
                )
            )
        ids, wildcard = _record_ids(header.get("recordIds"), index, change, errors)
        changed = _names(header.get("changedFields"), index, f"{_HEADER}.changedFields", errors)
        nulled = _names(header.get("nulledFields"), index, f"{_HEADER}.nulledFields", errors)
        if len(errors) > before:
            continue
        if change.startswith("GAP_") or wildcard:
            # No record data (or a change to every record): fetch those records again.
            targets = ids or [RESYNC_ALL]
            batch.gaps.extend(DealGap(sf_id, change) for sf_id in targets)
            continue
        record = _event_record(payload, change, changed, nulled)
        for sf_id in ids:
            record["Id"] = sf_id
            deal = read_deal_record(
                index, record, fields, text=False, errors=errors, version=version, fetched=False
            )
            if deal is not None:
                batch.deals.append(deal)
    if errors:
        raise DealInputInvalid(errors)
    return batch


def _record_ids(
    value: Any, index: int, change: Any, errors: list[DealRecordError]
) -> tuple[list[str], bool]:
    """The event's record ids in 18-character form, and whether it names every record
    (``006*``)."""
    name = f"{_HEADER}.recordIds"
    if value is None or value == []:
        if change == "GAP_OVERFLOW":  # an overflow event names no record
            return [], True
        errors.append(DealRecordError(index, name, _("Expected a list of record ids.")))
        return [], False
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errors.append(DealRecordError(index, name, _("Expected a list of record ids.")))
        return [], False
    if RESYNC_ALL in value:  # Salesforce's wildcard for every Opportunity
        return [], True
    ids = []
    for raw in value:
        try:
            ids.append(to_18(raw.strip()))
        except InvalidSalesforceId:
            errors.append(
                DealRecordError(
                    index,
                    name,
                    _("Not a 15- or 18-character Salesforce id: %(id)s") % {"id": shown(raw)},
                )
            )
    return ids, False


def _event_record(
    payload: Mapping[str, Any], change: str, changed: list[str], nulled: list[str]
) -> dict[str, Any]:
    """The fields an event carries, as a (partial) Salesforce record.

    CREATE and UNDELETE carry the record's non-empty fields; an UPDATE its changed fields:
    those ``changedFields`` names when the header has them (a Pub/Sub payload decoded to
    JSON holds every field, the unchanged ones empty), else the body's. ``nulledFields``
    are present and empty. DELETE carries no field.
    """
    body = {k: v for k, v in payload.items() if k not in (_HEADER, "SystemModstamp")}
    if change == "DELETE":
        return {"IsDeleted": True}
    if change == "UPDATE" and changed:
        record = {name: body[name] for name in changed if name in body}
    else:
        record = dict(body)
    for name in nulled:
        record[name] = None
    if change == "UNDELETE":
        record["IsDeleted"] = False
    else:
        record.pop("IsDeleted", None)  # change events never carry it
    return record
