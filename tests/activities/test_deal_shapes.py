"""POST deals/sync/ with every JSON shape Salesforce and its clients send: query pages, bare
record lists, Change Data Capture events, getDeleted; partial records; equal stamps; the
resync list; bad input refused whole. Fixtures mirror Salesforce's documented examples."""

from __future__ import annotations

import copy
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest

from activities.models import Deal, DealResync
from pse_crm.tenancy import tenant_scope
from tests.partners.factories import PartnerFactory
from tests.reps.factories import RepFactory

URL = "/api/v1/deals/sync/"
FIXTURES = Path(__file__).parent / "fixtures"
O1, O2, O3 = "006Hs00001Ab1cDIAR", "006Hs00001Ab2eFIAR", "006Hs00001Ab3gHIAR"
ACCOUNT = "001Hs00000Pq9rSIAR"
OWNER = "005Hs00000Uv7wXIAR"


def fixture(name: str):
    return json.loads((FIXTURES / name).read_text())


def post(client, body, **extra):
    return client.post(URL, data=json.dumps(body), content_type="application/json", **extra)


def ok(client, body) -> dict:
    response = post(client, body)
    assert response.status_code == 200, response.content
    return response.json()


def stored(tenant) -> dict[str, Deal]:
    with tenant_scope(tenant):
        return {d.sf_id: d for d in Deal.objects.all()}


def resync(tenant) -> dict[str, str]:
    with tenant_scope(tenant):
        return dict(DealResync.objects.values_list("sf_id", "reason"))


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


def record(sf_id: str, stamp: str, **fields) -> dict:
    body = {
        "attributes": {
            "type": "Opportunity",
            "url": f"/services/data/v62.0/sobjects/Opportunity/{sf_id}",
        },
        "Id": sf_id,
        "SystemModstamp": stamp,
    }
    body.update(fields)
    return body


def page(*records) -> dict:
    return {"totalSize": len(records), "done": True, "records": list(records)}


@pytest.fixture
def rep(tenant):
    partner = PartnerFactory(tenant=tenant, external_id=ACCOUNT)
    return RepFactory(partner=partner, salesforce_user_id=OWNER)


# --- query pages and bare lists -------------------------------------------------------


@pytest.mark.django_db
def test_query_page_fixture(api_client, tenant, rep):
    result = ok(api_client, fixture("deal_query_page.json"))
    assert (result["created"], result["unmatched"]) == (2, 0)
    deals = stored(tenant)
    won = deals[O1]
    assert (won.name, won.amount, won.is_won, won.currency) == (
        "Acme - 200 licences",
        Decimal("1200000.00"),
        True,
        "JPY",
    )
    # The convertCurrency(Amount) alias is kept, and the corporate amount follows it.
    assert won.sf_converted_amount == Decimal("1200000.00")
    assert won.amount_corporate == Decimal("1200000.00")
    assert won.partner == rep.partner and won.rep == rep
    renewal = deals[O2]
    assert renewal.amount is None and renewal.currency == "USD"
    assert renewal.partner is None and renewal.raw_partner_key == ""


@pytest.mark.django_db
def test_bare_list_of_salesforce_records_fixture(api_client, tenant, rep):
    # What simple-salesforce's query_all_iter yields: records with their attributes.
    result = ok(api_client, fixture("deal_bare_list.json"))
    assert result["created"] == 2
    deals = stored(tenant)
    assert deals[O3].amount == Decimal("350000.00") and deals[O3].rep == rep
    # The first record carries four fields: the others take the defaults.
    partial = deals[O1]
    assert (partial.name, partial.stage, partial.amount, partial.close_date) == (
        "Acme - 200 licences",
        "Negotiation/Review",
        None,
        None,
    )
    assert partial.currency == "JPY"  # the tenant's corporate currency


@pytest.mark.django_db
def test_a_list_without_attributes_is_read_in_the_api_names(api_client, tenant):
    body = [{"Id": O1, "SystemModstamp": "2026-03-20T10:00:00.000+0000"}]
    response = post(api_client, body)
    assert response.status_code == 400
    assert {e["field"] for e in response.json()["errors"]} >= {"Id", "sf_id"}
    assert stored(tenant) == {}


@pytest.mark.django_db
def test_a_record_of_another_object_is_refused(api_client, tenant):
    account = record(O1, "2026-03-20T10:00:00.000+0000")
    account["attributes"]["type"] = "Account"
    response = post(api_client, [account])
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "attributes.type"
    assert stored(tenant) == {}


# --- partial records ------------------------------------------------------------------


@pytest.mark.django_db
def test_query_page_partial_record_keeps_absent_fields_and_empties_null_ones(
    api_client, tenant, rep
):
    ok(api_client, fixture("deal_query_page.json"))
    trimmed = record(O1, "2026-04-01T00:00:00.000+0000", StageName="Closed Lost", IsWon=False)
    assert ok(api_client, page(trimmed))["updated"] == 1
    deal = stored(tenant)[O1]
    assert (deal.stage, deal.is_won) == ("Closed Lost", False)
    assert deal.name == "Acme - 200 licences" and deal.amount == Decimal("1200000.00")
    assert deal.close_date == dt.date(2026, 3, 31) and deal.rep == rep

    nulled = record(O1, "2026-04-02T00:00:00.000+0000", Amount=None, PartnerAccountId=None)
    ok(api_client, page(nulled))
    deal = stored(tenant)[O1]
    assert deal.amount is None
    assert deal.partner is None and deal.raw_partner_key == ""  # a null key unlinks
    assert deal.rep == rep and deal.stage == "Closed Lost"


@pytest.mark.django_db
def test_api_list_partial_record(api_client, tenant):
    full = {
        "sf_id": O1,
        "system_modstamp": "2026-03-01T00:00:00Z",
        "name": "Full",
        "amount": "10.00",
        "close_date": "2026-03-31",
    }
    ok(api_client, [full])
    ok(api_client, [{"sf_id": O1, "system_modstamp": "2026-03-02T00:00:00Z", "stage": "S2"}])
    deal = stored(tenant)[O1]
    assert (deal.name, deal.amount, deal.stage) == ("Full", Decimal("10.00"), "S2")
    ok(api_client, [{"sf_id": O1, "system_modstamp": "2026-03-03T00:00:00Z", "close_date": None}])
    deal = stored(tenant)[O1]
    assert deal.close_date is None and deal.name == "Full"


@pytest.mark.django_db
def test_a_new_deal_without_currency_takes_the_corporate_currency(api_client, tenant):
    tenant.corporate_currency = "USD"
    tenant.save()
    ok(api_client, page(record(O1, "2026-03-01T00:00:00.000+0000", Amount=5)))
    assert stored(tenant)[O1].currency == "USD"


# --- versions -------------------------------------------------------------------------


@pytest.mark.django_db
def test_equal_stamp_equal_content_is_unchanged(api_client, tenant):
    body = page(record(O1, "2026-03-01T00:00:00.000+0000", Name="Same"))
    ok(api_client, body)
    before = stored(tenant)[O1].updated_at
    assert ok(api_client, body)["unchanged"] == 1
    assert stored(tenant)[O1].updated_at == before


@pytest.mark.django_db
def test_equal_stamp_different_content_the_later_arrival_wins(api_client, tenant):
    ok(api_client, page(record(O1, "2026-03-01T00:00:00.000+0000", Name="First")))
    result = ok(api_client, page(record(O1, "2026-03-01T00:00:00.000+0000", Name="Second")))
    assert (result["updated"], result["unchanged"], result["stale"]) == (1, 0, 0)
    assert stored(tenant)[O1].name == "Second"


@pytest.mark.django_db
def test_equal_stamps_in_one_body_the_later_one_wins(api_client, tenant):
    stamp = "2026-03-01T00:00:00.000+0000"
    body = page(record(O1, stamp, Name="Earlier"), record(O1, stamp, Name="Later"))
    result = ok(api_client, body)
    assert (result["created"], result["updated"]) == (1, 1)
    assert stored(tenant)[O1].name == "Later"


@pytest.mark.django_db
def test_older_partial_version_arriving_late_fills_only_what_no_newer_one_set(api_client, tenant):
    ok(api_client, page(record(O1, "2026-03-02T00:00:00.000+0000", Name="New name")))
    late = record(O1, "2026-03-01T00:00:00.000+0000", Name="Old name", Amount=42)
    assert ok(api_client, page(late))["stale"] == 1
    deal = stored(tenant)[O1]
    assert deal.name == "New name" and deal.amount == Decimal("42.00")
    assert deal.system_modstamp == utc("2026-03-02T00:00:00+00:00")


# --- Change Data Capture --------------------------------------------------------------


def commit_time(event: dict) -> dt.datetime:
    ms = event["payload"]["ChangeEventHeader"]["commitTimestamp"]
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=ms)


@pytest.mark.django_db
def test_change_events_create_update_delete_undelete(api_client, tenant, rep):
    create, update = fixture("deal_cdc_create.json"), fixture("deal_cdc_update.json")
    assert ok(api_client, create)["created"] == 1
    deal = stored(tenant)[O3]
    assert (deal.name, deal.amount, deal.stage, deal.rep) == (
        "Initech - pilot",
        Decimal("350000.00"),
        "Prospecting",
        rep,
    )
    assert deal.system_modstamp == commit_time(create)
    assert deal.sf_created_at == utc("2026-04-01T09:00:00+00:00")

    # UPDATE carries its changed fields only; nulledFields empties Amount.
    assert ok(api_client, update)["updated"] == 1
    deal = stored(tenant)[O3]
    assert (deal.stage, deal.amount) == ("Negotiation/Review", None)
    assert deal.name == "Initech - pilot" and deal.close_date == dt.date(2026, 5, 15)
    assert deal.partner == rep.partner and deal.system_modstamp == commit_time(update)

    assert ok(api_client, fixture("deal_cdc_delete.json"))["deleted"] == 1
    assert stored(tenant)[O3].is_deleted is True
    assert ok(api_client, fixture("deal_cdc_undelete.json"))["updated"] == 1
    deal = stored(tenant)[O3]
    assert deal.is_deleted is False and deal.stage == "Negotiation/Review"


@pytest.mark.django_db
def test_change_events_in_any_order_and_form_end_the_same(
    api_client, other_api_client, tenant, other_tenant
):
    events = [fixture(f"deal_cdc_{n}.json") for n in ("create", "update", "delete", "undelete")]
    for event in events:
        ok(api_client, event)
    # The other tenant gets them newest first, as payloads alone, in one list.
    ok(other_api_client, [e["payload"] for e in reversed(events)])
    ours, theirs = stored(tenant)[O3], stored(other_tenant)[O3]
    fields = ("name", "amount", "stage", "close_date", "is_deleted", "system_modstamp")
    assert [getattr(theirs, f) for f in fields] == [getattr(ours, f) for f in fields]


@pytest.mark.django_db
def test_an_update_without_changed_fields_reads_the_body(api_client, tenant):
    ok(api_client, fixture("deal_cdc_create.json"))
    update = fixture("deal_cdc_update.json")
    del update["payload"]["ChangeEventHeader"]["changedFields"]
    del update["payload"]["ChangeEventHeader"]["nulledFields"]
    del update["payload"]["Amount"]
    ok(api_client, {"data": update, "channel": "/data/OpportunityChangeEvent"})
    deal = stored(tenant)[O3]
    assert deal.stage == "Negotiation/Review" and deal.amount == Decimal("350000.00")


@pytest.mark.django_db
def test_changed_fields_pick_the_fields_of_a_full_payload(api_client, tenant):
    # A Pub/Sub event decoded to JSON holds every field, the unchanged ones empty.
    ok(api_client, fixture("deal_cdc_create.json"))
    update = fixture("deal_cdc_update.json")
    update["payload"].update({"Name": None, "CloseDate": None, "OwnerId": None})
    ok(api_client, update)
    deal = stored(tenant)[O3]
    assert deal.name == "Initech - pilot" and deal.close_date == dt.date(2026, 5, 15)
    assert deal.raw_rep_key == OWNER and deal.amount is None


@pytest.mark.django_db
def test_one_event_for_several_records(api_client, tenant):
    ok(api_client, page(record(O1, "2026-03-01T00:00:00.000+0000", Name="a")))
    ok(api_client, page(record(O2, "2026-03-01T00:00:00.000+0000", Name="b")))
    update = fixture("deal_cdc_update.json")
    update["payload"]["ChangeEventHeader"]["recordIds"] = [O1, O2[:15]]
    assert ok(api_client, update)["updated"] == 2
    assert {d.stage for d in stored(tenant).values()} == {"Negotiation/Review"}


@pytest.mark.django_db
def test_an_amount_changed_without_its_conversion_drops_the_old_conversion(api_client, tenant):
    ok(api_client, fixture("deal_query_page.json"))
    update = fixture("deal_cdc_update.json")
    update["payload"]["ChangeEventHeader"].update(recordIds=[O1], nulledFields=[])
    update["payload"]["Amount"] = 900000.0
    ok(api_client, update)
    deal = stored(tenant)[O1]
    # Salesforce's conversion was of the old amount: the rates convert the new one.
    assert deal.sf_converted_amount is None
    assert (deal.amount, deal.amount_corporate) == (Decimal("900000.00"), Decimal("900000.00"))
    # A version that leaves the amount alone leaves a conversion alone.
    ok(api_client, fixture("deal_query_page.json"))  # older: stale, fills nothing
    ok(api_client, page(record(O1, "2026-04-09T00:00:00.000+0000", convertedAmount=880000)))
    assert stored(tenant)[O1].amount_corporate == Decimal("880000.00")


# --- the resync list ------------------------------------------------------------------


@pytest.mark.django_db
def test_gap_events_list_ids_until_a_full_record_arrives(api_client, tenant):
    result = ok(api_client, fixture("deal_cdc_gap.json"))
    assert result["resync_noted"] == 2 and result["created"] == 0
    assert resync(tenant) == {O1: "GAP_UPDATE", O2: "GAP_UPDATE"}
    state = api_client.get(URL).json()
    assert state["resync_count"] == 2
    assert {r["sf_id"] for r in state["resync"]} == {O1, O2}
    assert stored(tenant) == {}

    # A change event of O1 is no full record: it stays listed.
    update = fixture("deal_cdc_update.json")
    update["payload"]["ChangeEventHeader"]["recordIds"] = [O1]
    ok(api_client, update)
    assert set(resync(tenant)) == {O1, O2}

    result = ok(api_client, page(record(O1, "2026-04-06T00:00:00.000+0000", Name="fetched")))
    assert result["resync_cleared"] == 1
    assert resync(tenant) == {O2: "GAP_UPDATE"}
    assert api_client.get(URL).json()["resync_count"] == 1


@pytest.mark.django_db
def test_overflow_lists_every_opportunity_until_a_query_run_ends(api_client, tenant):
    ok(api_client, fixture("deal_cdc_overflow.json"))
    assert resync(tenant) == {"006*": "GAP_OVERFLOW"}
    unfinished = page(record(O1, "2026-04-06T00:00:00.000+0000"))
    unfinished.update(done=False, nextRecordsUrl="/services/data/v62.0/query/01gD0-2000")
    ok(api_client, unfinished)
    assert resync(tenant) == {"006*": "GAP_OVERFLOW"}
    ok(api_client, page(record(O2, "2026-04-06T00:00:00.000+0000")))
    assert resync(tenant) == {}


@pytest.mark.django_db
def test_a_wildcard_change_lists_every_opportunity(api_client, tenant):
    # A field type conversion changes every record: recordIds is the prefix and "*".
    update = fixture("deal_cdc_update.json")
    update["payload"]["ChangeEventHeader"]["recordIds"] = ["006*"]
    result = ok(api_client, update)
    assert (result["updated"], result["resync_noted"]) == (0, 1)
    assert resync(tenant) == {"006*": "UPDATE"} and stored(tenant) == {}


@pytest.mark.django_db
def test_a_later_gap_of_a_listed_id_updates_its_reason(api_client, tenant):
    ok(api_client, fixture("deal_cdc_gap.json"))
    gap = fixture("deal_cdc_gap.json")
    gap["payload"]["ChangeEventHeader"].update(changeType="GAP_DELETE", recordIds=[O1])
    ok(api_client, gap)
    assert resync(tenant) == {O1: "GAP_DELETE", O2: "GAP_UPDATE"}


# --- getDeleted -----------------------------------------------------------------------


@pytest.mark.django_db
def test_get_deleted_fixture_soft_deletes(api_client, tenant):
    ok(api_client, fixture("deal_query_page.json"))
    result = ok(api_client, fixture("deal_get_deleted.json"))
    assert result["deleted"] == 1
    deal = stored(tenant)[O1]
    assert deal.is_deleted is True and deal.name == "Acme - 200 licences"
    assert deal.system_modstamp == utc("2026-04-06T07:07:19+00:00")
    listed = api_client.get("/api/v1/deals/").json()["results"]
    assert [d["sf_id"] for d in listed] == [O2]
    # An older version arriving afterwards never brings the deal back.
    ok(api_client, fixture("deal_query_page.json"))
    assert stored(tenant)[O1].is_deleted is True


@pytest.mark.django_db
def test_get_deleted_of_an_unknown_id_keeps_a_tombstone(api_client, tenant):
    ok(api_client, fixture("deal_get_deleted.json"))
    assert stored(tenant)[O1].is_deleted is True
    older = record(O1, "2026-03-31T09:00:00.000+0000", Name="resurrected?", IsDeleted=False)
    assert ok(api_client, page(older))["stale"] == 1
    assert stored(tenant)[O1].is_deleted is True


# --- bad input: 400 per record, nothing written ---------------------------------------


def _event_with(change: dict | None = None, **header) -> dict:
    event = fixture("deal_cdc_create.json")
    event["payload"]["ChangeEventHeader"].update(header)
    event["payload"].update(change or {})
    return event


BAD_JSON = [
    (page(record(O1, "2026-03-01T00:00:00Z", Name="N\x00UL")), 0, "Name", "NUL"),
    (page(record(O1, "2026-03-01T00:00:00Z", CloseDate=1774947600000)), 0, "CloseDate", "Epoch"),
    (page(record(O1, "1774947600000")), 0, "SystemModstamp", "Epoch"),
    (page(record(O1, "2026-03-01T00:00:00Z", CloseDate="20260331")), 0, "CloseDate", "Epoch"),
    (page(record(O1, "2026-03-01T00:00:00Z", Amount="null")), 0, "Amount", "null"),
    ([_event_with(commitTimestamp="1775034000000")], 0, "ChangeEventHeader.commitTimestamp", ""),
    ([_event_with(entityName="Account")], 0, "ChangeEventHeader.entityName", ""),
    ([_event_with(changeType="SNAPSHOT")], 0, "ChangeEventHeader.changeType", ""),
    ([_event_with(recordIds=["bad"])], 0, "ChangeEventHeader.recordIds", ""),
    ([_event_with(recordIds=["001*"])], 0, "ChangeEventHeader.recordIds", ""),
    ([_event_with(recordIds=[])], 0, "ChangeEventHeader.recordIds", ""),
    ([_event_with(changedFields=["0x1F"])], 0, "ChangeEventHeader.changedFields", "bitmap"),
    ([_event_with({"LastModifiedDate": 1775034000000})], 0, "LastModifiedDate", "Epoch"),
    ([_event_with({"Name": "x\x00"})], 0, "Name", "NUL"),
    (
        {"deletedRecords": [{"id": O1, "deletedDate": 1775034000000}]},
        0,
        "deletedDate",
        "Epoch",
    ),
    ({"deletedRecords": [{"id": "nope", "deletedDate": "2026-04-06T07:07:19Z"}]}, 0, "id", ""),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("bad", "index", "field", "words"), BAD_JSON)
def test_bad_json_is_400_naming_the_record_and_field(
    api_client, tenant, rep, bad, index, field, words
):
    good = fixture("deal_cdc_gap.json")
    body = bad
    if isinstance(bad, list):  # a good event before the bad one: nothing of it is kept
        body = [good, *copy.deepcopy(bad)]
        index += 1
    response = post(api_client, body)
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert (errors[0]["index"], errors[0]["field"]) == (index, field)
    assert words.lower() in errors[0]["message"].lower()
    assert stored(tenant) == {} and resync(tenant) == {}


@pytest.mark.django_db
def test_a_list_mixing_shapes_is_400(api_client, tenant):
    body = [record(O1, "2026-03-01T00:00:00Z"), fixture("deal_cdc_create.json")]
    response = post(api_client, body)
    assert response.status_code == 400
    assert [e["index"] for e in response.json()["errors"]] == [1]
    assert stored(tenant) == {}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("cell", "column"),
    [("null", "Amount"), ("NULL", "CloseDate"), ("1774947600000", "CloseDate")],
)
def test_csv_null_text_or_epoch_is_400_naming_line_and_field(api_client, tenant, cell, column):
    values = {"Amount": "10", "CloseDate": "2026-03-31", column: cell}
    body = (
        "Id,SystemModstamp,Amount,CloseDate\n"
        f"{O1},2026-03-01T00:00:00.000Z,10,2026-03-31\n"
        f"{O2},2026-03-01T00:00:00.000Z,{values['Amount']},{values['CloseDate']}\n"
    )
    response = api_client.post(URL, data=body.encode(), content_type="text/csv")
    assert response.status_code == 400, response.content
    error = response.json()["errors"][0]
    assert (error["line"], error["field"]) == (3, column)
    assert stored(tenant) == {}


@pytest.mark.django_db
def test_csv_column_delimiter(api_client, tenant):
    body = f"Id\tSystemModstamp\tName\n{O1}\t2026-03-01T00:00:00.000Z\tTabbed\n"
    response = api_client.post(
        URL + "?columnDelimiter=TAB", data=body.encode(), content_type="text/csv"
    )
    assert response.status_code == 200, response.content
    assert stored(tenant)[O1].name == "Tabbed"
    response = api_client.post(
        URL + "?columnDelimiter=SPACE", data=body.encode(), content_type="text/csv"
    )
    assert response.status_code == 400
    assert "columnDelimiter" in json.dumps(response.json())


@pytest.mark.django_db
def test_over_10000_change_events_is_413(api_client, tenant):
    response = post(api_client, [fixture("deal_cdc_gap.json")] * 10_001)
    assert response.status_code == 413
    assert resync(tenant) == {}


@pytest.mark.django_db
def test_an_object_of_no_known_shape_is_400(api_client, tenant):
    response = post(api_client, {"hello": "world"})
    assert response.status_code == 400
    assert "change event" in response.json()["detail"]


# --- tenants --------------------------------------------------------------------------


@pytest.mark.django_db
def test_change_events_and_resync_list_stay_in_their_tenant(
    api_client, other_api_client, tenant, other_tenant
):
    ok(other_api_client, fixture("deal_cdc_create.json"))
    ok(other_api_client, fixture("deal_cdc_gap.json"))
    assert stored(tenant) == {} and resync(tenant) == {}
    state = api_client.get(URL).json()
    assert state["resync_count"] == 0 and state["resync"] == []

    ok(api_client, page(record(O1, "2026-04-07T00:00:00.000+0000", Name="ours")))
    # Our full record of O1 clears nothing of the other tenant's list.
    assert set(resync(other_tenant)) == {O1, O2}
    ok(api_client, fixture("deal_cdc_delete.json"))
    assert stored(other_tenant)[O3].is_deleted is False
    assert stored(tenant)[O3].is_deleted is True
