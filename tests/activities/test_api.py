"""/api/v1/materials/, /api/v1/material-views/ and /api/v1/deals/: lists, filters, writes,
roles and isolation (another tenant's rows are present and never appear)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from rest_framework.test import APIClient

from activities.models import Material, MaterialView
from pse_crm.roles import Role
from pse_crm.tenancy import tenant_scope
from tests.activities.factories import DealFactory, MaterialFactory, MaterialViewFactory
from tests.helpers import member_api_client
from tests.partners.factories import PartnerDomainFactory, PartnerFactory
from tests.reps.factories import RepFactory

MATERIALS = "/api/v1/materials/"
VIEWS = "/api/v1/material-views/"
DEALS = "/api/v1/deals/"
T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)


def results(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return response.json()["results"]


@pytest.fixture
def world(tenant, other_tenant):
    partner = PartnerFactory(tenant=tenant, name="Tokyo Reseller")
    PartnerDomainFactory(partner=partner, domain="tokyo.example.jp")
    rep = RepFactory(partner=partner, name="Sato", email="sato@tokyo.example.jp", external_id="u-1")
    material = MaterialFactory(
        tenant=tenant, title="Price sheet", external_id="price-1", kind="price_sheet"
    )
    rival_partner = PartnerFactory(tenant=other_tenant, name="Rival")
    rival_rep = RepFactory(partner=rival_partner, name="Rival Rep", email="sato@tokyo.example.jp")
    rival_material = MaterialFactory(tenant=other_tenant, title="Rival deck", external_id="price-1")
    MaterialViewFactory(rep=rival_rep, material=rival_material, event_id="rival-1")
    DealFactory(rep=rival_rep, name="Rival deal", stage="Closed Won", is_won=True)
    return {
        "partner": partner,
        "rep": rep,
        "material": material,
        "rival_partner": rival_partner,
        "rival_rep": rival_rep,
        "rival_material": rival_material,
    }


# --- materials ------------------------------------------------------------------------


@pytest.mark.django_db
def test_materials_list_filter_and_crud(api_client, tenant, world):
    MaterialFactory(tenant=tenant, title="Intro deck", kind="deck")
    assert sorted(m["title"] for m in results(api_client.get(MATERIALS))) == [
        "Intro deck",
        "Price sheet",
    ]
    assert [m["title"] for m in results(api_client.get(MATERIALS, {"kind": "price_sheet"}))] == [
        "Price sheet"
    ]
    assert api_client.get(MATERIALS, {"kind": "podcast"}).status_code == 400
    created = api_client.post(
        MATERIALS,
        {"title": "Case study", "kind": "case_study", "url": "https://example.jp/c"},
        format="json",
    )
    assert created.status_code == 201, created.content
    detail = f"{MATERIALS}{created.json()['id']}/"
    assert api_client.patch(detail, {"product": "CRM"}, format="json").json()["product"] == "CRM"
    assert (
        api_client.post(MATERIALS, {"title": "X", "kind": "podcast"}, format="json").status_code
        == 400
    )
    assert (
        api_client.post(MATERIALS, {"title": "X", "url": "not a url"}, format="json").status_code
        == 400
    )
    assert api_client.delete(detail).status_code == 204
    # In use by views: refused with 409, never a 500.
    MaterialViewFactory(rep=world["rep"], material=world["material"])
    assert api_client.delete(f"{MATERIALS}{world['material'].pk}/").status_code == 409


@pytest.mark.django_db
def test_materials_bulk_upsert(api_client, tenant, world):
    records = [
        {"external_id": "price-1", "title": "Price sheet 2026"},
        {"external_id": "deck-9", "title": "New deck", "kind": "deck"},
    ]
    body = api_client.post(f"{MATERIALS}bulk/", records, format="json").json()
    assert (body["created"], body["updated"], body["unchanged"]) == (1, 1, 0)
    with tenant_scope(tenant):
        assert sorted(Material.objects.values_list("title", flat=True)) == [
            "New deck",
            "Price sheet 2026",
        ]
    world["rival_material"].refresh_from_db()
    assert world["rival_material"].title == "Rival deck"
    bad = api_client.post(
        f"{MATERIALS}bulk/", [{"external_id": "x", "title": "X", "kind": "podcast"}], format="json"
    )
    assert bad.status_code == 400
    assert bad.json()["errors"][0] == {
        "index": 0,
        "field": "kind",
        "message": bad.json()["errors"][0]["message"],
    }


@pytest.mark.django_db
def test_another_tenants_material_is_404(api_client, world):
    detail = f"{MATERIALS}{world['rival_material'].pk}/"
    assert api_client.get(detail).status_code == 404
    assert api_client.put(detail, {"title": "Mine"}, format="json").status_code == 404


# --- material views -------------------------------------------------------------------


def event(n: int, **fields) -> dict:
    base = {
        "event_id": f"evt-{n}",
        "rep_email": "sato@tokyo.example.jp",
        "material_external_id": "price-1",
        "viewed_at": (T0 + dt.timedelta(hours=n)).isoformat(),
        "duration_seconds": 30,
    }
    base.update(fields)
    return base


def stored_views(tenant) -> list[str]:
    with tenant_scope(tenant):
        return sorted(MaterialView.objects.values_list("event_id", flat=True))


@pytest.mark.django_db
def test_post_json_events_then_replay_counts_duplicates(api_client, tenant, world):
    events = [event(n) for n in range(3)]
    first = api_client.post(VIEWS, events, format="json")
    assert first.status_code == 200, first.content
    assert first.json() == {"created": 3, "duplicates": 0, "reps_created": 0}
    replay = api_client.post(VIEWS, [*events, event(3)], format="json").json()
    assert (replay["created"], replay["duplicates"]) == (1, 3)
    assert stored_views(tenant) == ["evt-0", "evt-1", "evt-2", "evt-3"]


@pytest.mark.django_db
def test_post_csv_with_the_import_columns(api_client, tenant, world):
    body = (
        "event_id,rep_email,material_external_id,viewed_at,duration_seconds\n"
        "c-1,sato@tokyo.example.jp,price-1,2026-03-01T10:00:00+09:00,45\n"
        "c-2,new.rep@tokyo.example.jp,price-1,2026-03-01T11:00:00+09:00,\n"
    )
    response = api_client.post(VIEWS, body.encode(), content_type="text/csv")
    assert response.status_code == 200, response.content
    assert response.json() == {"created": 2, "duplicates": 0, "reps_created": 1}


@pytest.mark.django_db
def test_bad_events_refuse_the_batch_with_index_or_line(api_client, tenant, world):
    events = [
        event(0),
        event(1, viewed_at="yesterday"),
        event(2, duration_seconds="long"),
        event(3, material_external_id="nope"),
        event(4, event_id={"nested": True}),
        "not an object",
    ]
    response = api_client.post(VIEWS, events, format="json")
    assert response.status_code == 400
    indexes = {e["index"] for e in response.json()["errors"]}
    assert {4, 5} <= indexes
    response = api_client.post(VIEWS, events[:4], format="json")
    assert {e["index"] for e in response.json()["errors"]} == {1, 2, 3}
    body = "event_id,rep_email,material_external_id,viewed_at\nc-1,sato@tokyo.example.jp,price-1,never\n"
    response = api_client.post(VIEWS, body.encode(), content_type="text/csv")
    assert response.status_code == 400
    assert response.json()["errors"][0]["line"] == 2
    assert stored_views(tenant) == []


@pytest.mark.django_db
def test_view_events_over_the_limit_are_413(api_client, world):
    assert api_client.post(VIEWS, [event(0)] * 10_001, format="json").status_code == 413
    rows = "".join(
        f"e{n},sato@tokyo.example.jp,price-1,2026-03-01T10:00:00Z\n" for n in range(10_001)
    )
    body = ("event_id,rep_email,material_external_id,viewed_at\n" + rows).encode()
    assert api_client.post(VIEWS, body, content_type="text/csv").status_code == 413


@pytest.mark.django_db
def test_view_post_rejects_malformed_json_and_other_content_types(api_client, world):
    assert api_client.post(VIEWS, "[{", content_type="application/json").status_code == 400
    assert api_client.post(VIEWS, {"event_id": "x"}, format="json").status_code == 400
    assert api_client.post(VIEWS, "x", content_type="application/xml").status_code == 415


@pytest.mark.django_db
def test_views_list_filters(api_client, tenant, world):
    other_rep = RepFactory(partner=PartnerFactory(tenant=tenant), name="Kato")
    deck = MaterialFactory(tenant=tenant, title="Deck")
    MaterialViewFactory(rep=world["rep"], material=world["material"], event_id="a", viewed_at=T0)
    MaterialViewFactory(
        rep=world["rep"], material=deck, event_id="b", viewed_at=T0 + dt.timedelta(days=2)
    )
    MaterialViewFactory(
        rep=other_rep, material=deck, event_id="c", viewed_at=T0 + dt.timedelta(days=5)
    )

    def ids(**params):
        return sorted(v["event_id"] for v in results(api_client.get(VIEWS, params)))

    assert ids() == ["a", "b", "c"]
    assert ids(rep=world["rep"].pk) == ["a", "b"]
    assert ids(partner=world["partner"].pk) == ["a", "b"]
    assert ids(material=deck.pk) == ["b", "c"]
    assert ids(viewed_after=(T0 + dt.timedelta(days=1)).isoformat()) == ["b", "c"]
    assert ids(viewed_before=(T0 + dt.timedelta(days=3)).isoformat()) == ["a", "b"]
    assert api_client.get(VIEWS, {"viewed_after": "last week"}).status_code == 400
    for name, row in (
        ("rep", "rival_rep"),
        ("partner", "rival_partner"),
        ("material", "rival_material"),
    ):
        assert api_client.get(VIEWS, {name: world[row].pk}).status_code == 404


# --- deals ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_deals_list_filters(api_client, tenant, world):
    other_rep = RepFactory(partner=PartnerFactory(tenant=tenant), name="Kato")
    DealFactory(
        rep=world["rep"],
        name="Won",
        stage="Closed Won",
        is_won=True,
        is_closed=True,
        close_date=dt.date(2026, 3, 10),
    )
    DealFactory(rep=world["rep"], name="Open", stage="Proposal", close_date=dt.date(2026, 4, 20))
    DealFactory(
        rep=other_rep,
        name="Lost",
        stage="Closed Lost",
        is_closed=True,
        close_date=dt.date(2026, 2, 1),
    )
    DealFactory(rep=other_rep, name="Gone", is_deleted=True)

    def deal_names(**params):
        return sorted(d["name"] for d in results(api_client.get(DEALS, params)))

    assert deal_names() == ["Lost", "Open", "Won"]
    assert deal_names(include_deleted="true") == ["Gone", "Lost", "Open", "Won"]
    assert deal_names(partner=world["partner"].pk) == ["Open", "Won"]
    assert deal_names(rep=other_rep.pk) == ["Lost"]
    assert deal_names(stage="Proposal") == ["Open"]
    assert deal_names(won="true") == ["Won"]
    assert deal_names(closed="true", won="false") == ["Lost"]
    assert deal_names(close_date_after="2026-03-01", close_date_before="2026-03-31") == ["Won"]
    assert api_client.get(DEALS, {"won": "maybe"}).status_code == 400
    assert api_client.get(DEALS, {"include_deleted": "maybe"}).status_code == 400
    assert api_client.get(DEALS, {"close_date_after": "March"}).status_code == 400
    assert api_client.get(DEALS, {"partner": world["rival_partner"].pk}).status_code == 404
    assert api_client.get(DEALS, {"rep": world["rival_rep"].pk}).status_code == 404


@pytest.mark.django_db
def test_deal_retrieve_and_read_only(api_client, tenant, world):
    deal = DealFactory(rep=world["rep"], name="Ours")
    detail = f"{DEALS}{deal.pk}/"
    body = api_client.get(detail).json()
    assert body["name"] == "Ours" and body["partner"] == world["partner"].pk
    assert api_client.patch(detail, {"name": "x"}, format="json").status_code == 405
    assert api_client.delete(detail).status_code == 405
    with tenant_scope(world["rival_rep"].tenant):
        rival = world["rival_rep"].deals.get()
    assert api_client.get(f"{DEALS}{rival.pk}/").status_code == 404


# --- roles and isolation --------------------------------------------------------------


ENDPOINTS_READ = [MATERIALS, VIEWS, DEALS, f"{DEALS}sync/"]


@pytest.mark.django_db
@pytest.mark.parametrize("url", ENDPOINTS_READ)
def test_anonymous_is_401(url, world):
    client = APIClient()
    assert client.get(url).status_code == 401
    # Authentication comes before the method check: 401 even where POST is not offered.
    assert client.post(url, [], format="json").status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "write"),
    [(Role.OWNER, True), (Role.MANAGER, False), (Role.STAFF, False), (Role.VIEWER, False)],
)
def test_roles_read_everything_only_owners_write(tenant, world, role, write):
    client = member_api_client(tenant, role)
    for url in ENDPOINTS_READ:
        assert client.get(url).status_code == 200, url
    material = client.post(MATERIALS, {"title": "New"}, format="json").status_code
    views = client.post(VIEWS, [event(0)], format="json").status_code
    bulk = client.post(
        f"{MATERIALS}bulk/", [{"external_id": "m", "title": "M"}], format="json"
    ).status_code
    assert (material, views, bulk) == ((201, 200, 200) if write else (403, 403, 403))


@pytest.mark.django_db
def test_other_tenants_key_lists_none_of_ours(other_api_client, tenant, world):
    MaterialViewFactory(rep=world["rep"], material=world["material"], event_id="ours")
    DealFactory(rep=world["rep"], name="Our deal")
    assert [m["title"] for m in results(other_api_client.get(MATERIALS))] == ["Rival deck"]
    assert [v["event_id"] for v in results(other_api_client.get(VIEWS))] == ["rival-1"]
    assert [d["name"] for d in results(other_api_client.get(DEALS))] == ["Rival deal"]
    assert other_api_client.get(f"{MATERIALS}{world['material'].pk}/").status_code == 404


@pytest.mark.django_db
def test_other_tenants_key_cannot_post_views_for_our_reps(other_api_client, tenant, world):
    response = other_api_client.post(
        VIEWS, [event(0, rep_external_id="u-1", rep_email=None)], format="json"
    )
    # Our rep's external id means nothing in their tenant: a bad record, nothing written.
    assert response.status_code == 400
    assert stored_views(tenant) == []


@pytest.mark.django_db
def test_no_request_answers_500_on_odd_bodies(api_client, world):
    odd = ["null", "true", "{}", '{"records": "x"}', '{"records": [null]}', "[[]]", "[null]"]
    for url in (
        VIEWS,
        f"{DEALS}sync/",
        f"{MATERIALS}bulk/",
        "/api/v1/partners/bulk/",
        "/api/v1/reps/bulk/",
    ):
        for body in odd:
            response = api_client.post(url, body, content_type="application/json")
            assert 400 <= response.status_code < 500, (url, body, response.status_code)
    response = api_client.post(
        f"{DEALS}sync/", json.dumps({"records": []}), content_type="application/json"
    )
    assert response.status_code == 200 and response.json()["created"] == 0
