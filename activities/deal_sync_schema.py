"""The OpenAPI description, parameter and examples of ``POST deals/sync/``
(docs/deal-sync.md says the same at length)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter

from activities.deal_csv import COLUMN_DELIMITERS

DEAL_SYNC_DESCRIPTION = _(
    "The body's shape is detected: a Salesforce REST query or queryAll page; a bare JSON "
    "array of Salesforce records with their attributes (simple-salesforce's query_all_iter); "
    "a JSON array in the API's own field names; Change Data Capture events for Opportunity "
    "as a CometD client receives them (one, or an array of up to 10,000; the payload alone "
    "also does); a getDeleted response; or a Bulk API 2.0 CSV (text/csv, several result "
    "pages allowed, columnDelimiter names the delimiter).\n\n"
    "Partial records: a field a record does not carry keeps its stored value; a field "
    "carried as null (an empty CSV cell) is emptied; a new deal takes the defaults, and the "
    "tenant's corporate currency when CurrencyIsoCode is missing. A change event UPDATE "
    "carries its changed fields (changedFields, nulledFields).\n\n"
    "Versions: SystemModstamp orders the versions of a deal (a change event's "
    "commitTimestamp, a getDeleted entry's deletedDate). Strictly older than the stored "
    "version: stale (it still fills in a field no newer version carried). Equal and the "
    "same content: unchanged. Equal with different content: the later arrival is applied "
    "(updated). Within one body the versions of a deal are merged in version order, the "
    "later arrival last among equals, so order and batching never change the result.\n\n"
    "DELETE change events and getDeleted entries soft-delete; UNDELETE restores. GAP_* and "
    "GAP_OVERFLOW events list the ids to fetch again in GET deals/sync/ (resync); a later "
    "fetched record of an id takes it off the list (the overflow entry 006*: the last page "
    "of a query run). convertedAmount (the alias of convertCurrency(Amount)) is kept as "
    "Salesforce's own conversion; a version carrying Amount or CurrencyIsoCode without it "
    "empties it. Any bad record refuses the whole body: 400 naming each record and field, "
    "nothing written."
)

COLUMN_DELIMITER_PARAMETER = OpenApiParameter(
    "columnDelimiter",
    OpenApiTypes.STR,
    enum=list(COLUMN_DELIMITERS),
    default="COMMA",
    description=str(_("The column delimiter of a text/csv body (Bulk API 2.0's names).")),
)

_OPP = "006Hs00001Ab3gHIAR"
_OWNER = "005Hs00000Uv7wXIAR"
_PARTNER = "001Hs00000Pq9rSIAR"
_RECORD = {
    "attributes": {
        "type": "Opportunity",
        "url": f"/services/data/v62.0/sobjects/Opportunity/{_OPP}",
    },
    "Id": _OPP,
    "Name": "Initech - pilot",
    "Amount": 350000.0,
    "CurrencyIsoCode": "JPY",
    "StageName": "Qualification",
    "CloseDate": "2026-05-15",
    "IsClosed": False,
    "IsWon": False,
    "IsDeleted": False,
    "SystemModstamp": "2026-03-21T11:00:00.000+0000",
    "PartnerAccountId": _PARTNER,
    "OwnerId": _OWNER,
}


def _event(change: str, fields: dict, *, changed: list, nulled: list | None = None) -> dict:
    header = {
        "entityName": "Opportunity",
        "recordIds": [_OPP],
        "changeType": change,
        "changeOrigin": "com/salesforce/api/rest/62.0",
        "transactionKey": "0002343d-9d90-e395-ed20-cf416ba652ad",
        "sequenceNumber": 1,
        "commitTimestamp": 1775125800000,
        "commitNumber": 10716283339740,
        "commitUser": _OWNER,
        "changedFields": changed,
    }
    if nulled is not None:
        header["nulledFields"] = nulled
    return {
        "schema": "IeRuaY6cbI_HsV8Rv1Mc5g",
        "payload": {"ChangeEventHeader": header, **fields},
        "event": {"replayId": 12},
    }


DEAL_SYNC_EXAMPLES = [
    OpenApiExample(
        "Salesforce query response",
        request_only=True,
        media_type="application/json",
        value={"totalSize": 1, "done": True, "records": [_RECORD]},
    ),
    OpenApiExample(
        "Bare list of Salesforce records",
        request_only=True,
        media_type="application/json",
        value=[_RECORD],
    ),
    OpenApiExample(
        "Change event (UPDATE)",
        request_only=True,
        media_type="application/json",
        value=_event(
            "UPDATE",
            {
                "StageName": "Negotiation/Review",
                "Amount": None,
                "LastModifiedDate": "2026-04-02T10:30:00.000Z",
            },
            changed=["StageName", "Amount", "LastModifiedDate"],
            nulled=["Amount"],
        ),
    ),
    OpenApiExample(
        "getDeleted response",
        request_only=True,
        media_type="application/json",
        value={
            "deletedRecords": [{"id": _OPP, "deletedDate": "2026-04-06T07:07:19.000+0000"}],
            "earliestDateAvailable": "2026-03-03T15:57:00.000+0000",
            "latestDateCovered": "2026-04-07T21:20:00.000+0000",
        },
    ),
]
