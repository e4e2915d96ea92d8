"""POST/GET /api/v1/deals/sync/: Salesforce opportunities upserted by Id, idempotently."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from activities.models import Deal, SyncSettings
from pse_crm.sfid import to_18
from pse_crm.tenancy import tenant_scope
from tests.activities.factories import DealFactory
from tests.factories import MembershipFactory
from tests.partners.factories import PartnerFactory
from tests.reps.factories import RepFactory

URL = "/api/v1/deals/sync/"
ACCOUNT_15 = "001A000001AbCdE"
OWNER_15 = "005A000000XyZab"


def opp_id(n: int, *, short: bool = False) -> str:
    base = f"006A00000{n:06d}"
    return base if short else to_18(base)


def stamp(minutes: int = 0) -> str:
    t = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC) + dt.timedelta(minutes=minutes)
    return t.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def sf_record(n: int, *, minutes: int = 0, short: bool = False, **fields) -> dict:
    """An Opportunity exactly as the Salesforce REST API returns it in a query response."""
    record_id = opp_id(n, short=short)
    record = {
        "attributes": {
            "type": "Opportunity",
            "url": f"/services/data/v60.0/sobjects/Opportunity/{record_id}",
        },
        "Id": record_id,
        "Name": f"Opportunity {n}",
        "Amount": 1200000.0,
        "StageName": "Negotiation/Review",
        "CloseDate": "2026-03-31",
        "IsClosed": False,
        "IsWon": False,
        "IsDeleted": False,
        "CreatedDate": "2026-02-01T00:00:00.000+0000",
        "LastModifiedDate": stamp(minutes),
        "SystemModstamp": stamp(minutes),
        "CurrencyIsoCode": "JPY",
        "AccountId": "001A000009ZzZzZ",
        "OwnerId": OWNER_15,
        "PartnerAccountId": ACCOUNT_15,
    }
    record.update(fields)
    return record


def query_response(records: list[dict], *, done: bool = True) -> dict:
    body = {"totalSize": len(records) + (0 if done else 2000), "done": done, "records": records}
    if not done:
        body["nextRecordsUrl"] = "/services/data/v60.0/query/01gD0000002HU6KIAW-2000"
    return body


def post(client, body):
    return client.post(URL, data=json.dumps(body), content_type="application/json")


def deals(tenant):
    with tenant_scope(tenant):
        return {d.sf_id: d for d in Deal.objects.all()}


@pytest.fixture
def partner(tenant):
    return PartnerFactory(tenant=tenant, external_id=to_18(ACCOUNT_15))


@pytest.fixture
def rep(partner):
    return RepFactory(partner=partner, salesforce_user_id=to_18(OWNER_15))


@pytest.mark.django_db
def test_salesforce_query_response_with_paging_fields_creates_deals(api_client, tenant, rep):
    body = query_response(
        [sf_record(1, short=True), sf_record(2, IsWon=True, IsClosed=True), sf_record(3)],
        done=False,
    )
    response = post(api_client, body)
    assert response.status_code == 200, response.content
    assert response.json() == {
        "created": 3,
        "updated": 0,
        "unchanged": 0,
        "stale": 0,
        "deleted": 0,
        "unmatched": 0,
        "resync_noted": 0,
        "resync_cleared": 0,
        "watermark": "2026-03-01T18:00:00+09:00",
    }
    stored = deals(tenant)
    # The 15-character Id is stored in its 18-character form.
    assert set(stored) == {opp_id(1), opp_id(2), opp_id(3)}
    first = stored[opp_id(1)]
    assert first.partner == rep.partner and first.rep == rep
    assert first.amount == Decimal("1200000.00") and first.currency == "JPY"
    assert first.close_date == dt.date(2026, 3, 31)
    assert stored[opp_id(2)].is_won is True


@pytest.mark.django_db
def test_won_is_is_won_never_the_stage_name(api_client, tenant):
    post(api_client, query_response([sf_record(1, StageName="Closed Won", IsWon=False)]))
    assert deals(tenant)[opp_id(1)].is_won is False


@pytest.mark.django_db
def test_replaying_a_batch_changes_nothing(api_client, tenant, rep):
    body = query_response([sf_record(n, minutes=n) for n in range(1, 6)])
    assert post(api_client, body).json()["created"] == 5
    before = {k: (d.updated_at, d.name) for k, d in deals(tenant).items()}
    replay = post(api_client, body).json()
    assert replay["unchanged"] == 5
    assert replay["created"] == replay["updated"] == replay["stale"] == 0
    assert {k: (d.updated_at, d.name) for k, d in deals(tenant).items()} == before


@pytest.mark.django_db
def test_newer_version_updates_older_version_is_stale(api_client, tenant):
    post(api_client, query_response([sf_record(1, minutes=10, Name="Current")]))
    newer = post(api_client, query_response([sf_record(1, minutes=20, Name="Newer")])).json()
    assert newer["updated"] == 1
    older = post(api_client, query_response([sf_record(1, minutes=5, Name="Old")])).json()
    assert older["stale"] == 1 and older["updated"] == 0
    assert deals(tenant)[opp_id(1)].name == "Newer"


@pytest.mark.django_db
@pytest.mark.parametrize("newest_first", [True, False])
def test_two_versions_in_one_batch_keep_the_newest(api_client, tenant, newest_first):
    versions = [sf_record(1, minutes=30, Name="v2"), sf_record(1, minutes=1, Name="v1")]
    if not newest_first:
        versions.reverse()
    result = post(api_client, query_response(versions)).json()
    # Merged in version order, whatever the order in the body: v1 creates, v2 updates.
    assert (result["created"], result["updated"], result["stale"]) == (1, 1, 0)
    assert deals(tenant)[opp_id(1)].name == "v2"


@pytest.mark.django_db
def test_is_deleted_soft_deletes_and_hides_from_the_list(api_client, tenant):
    post(api_client, query_response([sf_record(1), sf_record(2)]))
    result = post(api_client, query_response([sf_record(1, minutes=5, IsDeleted=True)])).json()
    assert result["deleted"] == 1
    assert deals(tenant)[opp_id(1)].is_deleted is True
    listed = api_client.get("/api/v1/deals/").json()["results"]
    assert [d["sf_id"] for d in listed] == [opp_id(2)]
    everything = api_client.get("/api/v1/deals/?include_deleted=true").json()["results"]
    assert {d["sf_id"] for d in everything} == {opp_id(1), opp_id(2)}


@pytest.mark.django_db
def test_unmatched_deal_is_linked_when_partner_and_rep_arrive(api_client, tenant):
    result = post(api_client, query_response([sf_record(1)])).json()
    assert result["unmatched"] == 1
    deal = deals(tenant)[opp_id(1)]
    assert deal.partner is None and deal.rep is None
    assert deal.raw_partner_key == to_18(ACCOUNT_15)

    # The partner arrives through the bulk API (15-character id), the rep one by one.
    response = api_client.post(
        "/api/v1/partners/bulk/",
        data=[{"external_id": ACCOUNT_15, "name": "Tokyo Reseller KK"}],
        format="json",
    )
    assert response.status_code == 200, response.content
    deal = deals(tenant)[opp_id(1)]
    assert deal.partner is not None and deal.partner.name == "Tokyo Reseller KK"
    assert deal.rep is None

    response = api_client.post(
        "/api/v1/reps/",
        data={
            "partner": deal.partner_id,
            "name": "Sato Hanako",
            "email": "sato@reseller.example.jp",
            "salesforce_user_id": OWNER_15,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert deals(tenant)[opp_id(1)].rep_id == response.json()["id"]


@pytest.mark.django_db
def test_unmatched_deal_is_linked_by_rep_bulk_upsert(api_client, tenant, partner):
    post(api_client, query_response([sf_record(1)]))
    response = api_client.post(
        "/api/v1/reps/bulk/",
        data=[
            {
                "email": "tanaka@reseller.example.jp",
                "name": "Tanaka",
                "partner_external_id": ACCOUNT_15,
                "salesforce_user_id": OWNER_15,
            }
        ],
        format="json",
    )
    assert response.status_code == 200, response.content
    assert deals(tenant)[opp_id(1)].rep.name == "Tanaka"


@pytest.mark.django_db
def test_rep_matched_by_email_in_a_custom_field(api_client, tenant, partner):
    with tenant_scope(tenant):
        SyncSettings.objects.create(
            tenant=tenant, rep_field="Partner_Rep_Email__c", rep_match=SyncSettings.RepMatch.EMAIL
        )
    rep = RepFactory(partner=partner, email="suzuki@reseller.example.jp")
    result = post(
        api_client,
        query_response([sf_record(1, Partner_Rep_Email__c="Suzuki@Reseller.example.jp")]),
    ).json()
    assert result["unmatched"] == 0
    assert deals(tenant)[opp_id(1)].rep == rep
    state = api_client.get(URL).json()
    assert state["rep_field"] == "Partner_Rep_Email__c" and state["rep_match"] == "email"


@pytest.mark.django_db
def test_plain_json_list_in_the_api_field_names(api_client, tenant, rep):
    body = [
        {
            "sf_id": opp_id(7, short=True),
            "name": "Renewal",
            "amount": "500000.50",
            "currency": "USD",
            "stage": "Closed Won",
            "is_closed": True,
            "is_won": True,
            "close_date": "2026-04-01",
            "system_modstamp": "2026-04-01T10:00:00Z",
            "partner_key": ACCOUNT_15,
            "rep_key": OWNER_15,
        }
    ]
    result = post(api_client, body).json()
    assert result["created"] == 1 and result["unmatched"] == 0
    deal = deals(tenant)[opp_id(7)]
    assert (deal.amount, deal.currency, deal.is_won) == (Decimal("500000.50"), "USD", True)
    assert deal.rep == rep


@pytest.mark.django_db
def test_bulk_api_csv_export(api_client, tenant, rep):
    csv_body = (
        '"Id","Name","Amount","StageName","CloseDate","IsClosed","IsWon","IsDeleted",'
        '"SystemModstamp","CurrencyIsoCode","OwnerId","PartnerAccountId"\n'
        f'"{opp_id(1, short=True)}","Deal, with comma","1000","Closed Won","2026-03-31",'
        f'"true","true","false","2026-03-01T09:00:00.000Z","JPY","{OWNER_15}","{ACCOUNT_15}"\n'
        f'"{opp_id(2)}","Second","","Prospecting","","false","false","false",'
        f'"2026-03-01T09:05:00.000Z","","",""\n'
    )
    response = api_client.post(URL, data=csv_body.encode(), content_type="text/csv")
    assert response.status_code == 200, response.content
    assert response.json()["created"] == 2
    stored = deals(tenant)
    assert stored[opp_id(1)].name == "Deal, with comma" and stored[opp_id(1)].is_won
    assert stored[opp_id(1)].rep == rep
    assert stored[opp_id(2)].amount is None and stored[opp_id(2)].close_date is None


@pytest.mark.django_db
def test_get_sync_returns_the_watermark(api_client, tenant):
    assert api_client.get(URL).json()["watermark"] is None
    post(api_client, query_response([sf_record(1, minutes=0), sf_record(2, minutes=90)]))
    state = api_client.get(URL).json()
    assert dt.datetime.fromisoformat(state["watermark"]) == dt.datetime(
        2026, 3, 1, 10, 30, tzinfo=dt.UTC
    )
    assert state["partner_field"] == "PartnerAccountId" and state["rep_field"] == "OwnerId"


# --- bad input ------------------------------------------------------------------------


BAD_RECORDS = [
    ({"Id": None}, "Id"),
    ({"Id": "not-an-id"}, "Id"),
    ({"SystemModstamp": None}, "SystemModstamp"),
    ({"SystemModstamp": "yesterday"}, "SystemModstamp"),
    ({"SystemModstamp": "2026-03-01T09:00:00"}, "SystemModstamp"),
    ({"Amount": "a lot"}, "Amount"),
    ({"Amount": True}, "Amount"),
    ({"CloseDate": "31/03/2026"}, "CloseDate"),
    ({"IsWon": "yes"}, "IsWon"),
    ({"CurrencyIsoCode": "yen"}, "CurrencyIsoCode"),
    ({"Name": ["a", "list"]}, "Name"),
    ({"OwnerId": "005-bad"}, "OwnerId"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("change", "field"), BAD_RECORDS)
def test_a_bad_record_refuses_the_whole_batch(api_client, tenant, change, field):
    body = query_response([sf_record(1), sf_record(2, **change), sf_record(3)])
    response = post(api_client, body)
    assert response.status_code == 400
    assert [(e["index"], e["field"]) for e in response.json()["errors"]] == [(1, field)]
    assert deals(tenant) == {}


@pytest.mark.django_db
def test_every_bad_record_is_listed(api_client, tenant):
    body = [
        {"sf_id": opp_id(1), "system_modstamp": "2026-03-01T09:00:00Z", "amount": "x"},
        {"sf_id": opp_id(2), "system_modstamp": "2026-03-01T09:00:00Z", "stage_name": "x"},
        {"system_modstamp": "2026-03-01T09:00:00Z"},
        "not an object",
    ]
    errors = post(api_client, body).json()["errors"]
    assert [(e["index"], e["field"]) for e in errors] == [
        (0, "amount"),
        (1, "stage_name"),
        (2, "sf_id"),
        (3, ""),
    ]
    assert all(e["message"] for e in errors)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "line", "field"),
    [
        ('"Id","SystemModstamp"\n"006A00000000001","2026-03-01T09:00:00Z","extra"\n', 2, ""),
        ('"Id","SystemModstamp"\n"006A00000000001","not a date"\n', 2, "SystemModstamp"),
        ('"Id","Name"\n"006A00000000001","x"\n', 1, "SystemModstamp"),
        ('"Id","SystemModstamp"\n"006A0000\x00', 2, ""),
    ],
)
def test_bad_csv_is_400_with_its_line(api_client, tenant, body, line, field):
    response = api_client.post(URL, data=body.encode(), content_type="text/csv")
    assert response.status_code == 400
    assert (response.json()["errors"][0]["line"], response.json()["errors"][0]["field"]) == (
        line,
        field,
    )
    assert deals(tenant) == {}


@pytest.mark.django_db
def test_csv_that_is_not_utf8_is_400(api_client, tenant):
    body = '"Id","SystemModstamp","Name"\n"006A00000000001","2026-03-01T09:00:00Z","商談"\n'
    response = api_client.post(URL, data=body.encode("utf-16"), content_type="text/csv")
    assert response.status_code == 400


@pytest.mark.django_db
@pytest.mark.parametrize("body", ["{not json", "[1, 2", '{"records": [NaN]}', "42", '"text"'])
def test_malformed_json_is_400(api_client, tenant, body):
    response = api_client.post(URL, data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["detail"]


@pytest.mark.django_db
def test_over_10000_records_is_413_naming_the_limit(api_client, tenant):
    body = query_response([{"Id": opp_id(1)}] * 10_001)
    response = post(api_client, body)
    assert response.status_code == 413
    assert "10000" in response.json()["detail"]
    assert deals(tenant) == {}


@pytest.mark.django_db
@override_settings(API_MAX_BODY_BYTES=1000)
def test_over_size_body_is_413(api_client, tenant):
    response = post(api_client, query_response([sf_record(n) for n in range(10)]))
    assert response.status_code == 413
    assert "1000" in response.json()["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize("content_type", ["text/plain", "application/xml"])
def test_unsupported_content_type_is_415(api_client, content_type):
    response = api_client.post(URL, data="x", content_type=content_type)
    assert response.status_code == 415


@pytest.mark.django_db
def test_form_post_is_415(api_client):
    assert api_client.post(URL, data={"Id": opp_id(1)}).status_code == 415


# --- tenants and roles ----------------------------------------------------------------


@pytest.mark.django_db
def test_same_salesforce_id_in_two_tenants_stays_apart(api_client, other_api_client, tenant):
    other_partner_tenant = PartnerFactory(external_id=to_18(ACCOUNT_15))  # a third tenant's
    post(api_client, query_response([sf_record(1, Name="Ours")]))
    post(other_api_client, query_response([sf_record(1, Name="Theirs", minutes=99)]))
    ours = deals(tenant)[opp_id(1)]
    assert ours.name == "Ours"
    # Another tenant's partner with the same Account Id never links to our deal.
    assert ours.partner is None
    assert other_partner_tenant.tenant != tenant
    listed = api_client.get("/api/v1/deals/").json()["results"]
    assert [d["name"] for d in listed] == ["Ours"]


@pytest.mark.django_db
def test_anonymous_is_401():
    client = APIClient()
    assert client.get(URL).status_code == 401
    assert post(client, query_response([sf_record(1)])).status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "read", "write"),
    [("owner", 200, 200), ("manager", 200, 403), ("staff", 200, 403), ("viewer", 200, 403)],
)
def test_roles_on_sync(tenant, role, read, write):
    client = APIClient(enforce_csrf_checks=False)
    client.force_login(MembershipFactory(tenant=tenant, role=role).user)
    assert client.get(URL).status_code == read
    assert post(client, query_response([sf_record(1)])).status_code == write


@pytest.mark.django_db
def test_session_client_needs_the_csrf_token(session_api_client, tenant):
    with tenant_scope(tenant):
        SyncSettings.objects.create(tenant=tenant)
    # A manager may read; the POST is refused before the role check by the missing token.
    response = post(session_api_client, query_response([sf_record(1)]))
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


@pytest.mark.django_db
def test_existing_deal_from_factory_is_updated_by_newer_version(api_client, tenant):
    deal = DealFactory(
        rep=RepFactory(partner=PartnerFactory(tenant=tenant)),
        sf_id=opp_id(5),
        system_modstamp=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )
    result = post(api_client, query_response([sf_record(5, Name="From Salesforce")])).json()
    assert result["updated"] == 1
    deal = deals(tenant)[opp_id(5)]
    assert deal.name == "From Salesforce"


@pytest.mark.django_db
def test_rep_saved_later_by_email_links_only_our_waiting_deals(
    api_client, tenant, other_tenant, partner
):
    with tenant_scope(tenant):
        SyncSettings.objects.create(
            tenant=tenant, rep_field="Owner.Email", rep_match=SyncSettings.RepMatch.EMAIL
        )
    owner = {"attributes": {"type": "User"}, "Email": "Late@Reseller.example.jp"}
    result = post(api_client, query_response([sf_record(1, Owner=owner)])).json()
    assert result["unmatched"] == 1
    assert deals(tenant)[opp_id(1)].raw_rep_key == "late@reseller.example.jp"
    # A rep with the same email in another tenant links nothing of ours.
    RepFactory(partner=PartnerFactory(tenant=other_tenant), email="late@reseller.example.jp")
    assert deals(tenant)[opp_id(1)].rep is None
    # Saved outside any request (a command, the admin, a fixture): linked on save.
    rep = RepFactory(partner=partner, email="late@reseller.example.jp")
    assert deals(tenant)[opp_id(1)].rep == rep
