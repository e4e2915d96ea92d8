"""/api/v1/partners/: list, filters, ordering, cursor pages, CRUD, bulk upsert, isolation."""

from __future__ import annotations

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from partners.models import Partner
from pse_crm.roles import Role
from pse_crm.sfid import to_18
from pse_crm.tenancy import tenant_scope
from tests.activities.factories import DealFactory
from tests.helpers import member_api_client
from tests.partners.factories import PartnerDomainFactory, PartnerFactory

URL = "/api/v1/partners/"
BULK = "/api/v1/partners/bulk/"


def names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [p["name"] for p in response.json()["results"]]


def stored(tenant) -> dict[str, Partner]:
    with tenant_scope(tenant):
        return {p.name: p for p in Partner.objects.all()}


@pytest.fixture
def noise(other_tenant):
    """Another tenant's partners: never listed, never reachable."""
    return [
        PartnerFactory(
            tenant=other_tenant, name="Rival Reseller", external_id=to_18("001B00000000001")
        ),
        PartnerFactory(tenant=other_tenant, name="Rival Agency"),
    ]


@pytest.mark.django_db
def test_list_shows_only_own_partners_with_domains(api_client, tenant, noise):
    partner = PartnerFactory(tenant=tenant, name="Tokyo Reseller")
    PartnerDomainFactory(partner=partner, domain="tokyo-reseller.jp")
    PartnerFactory(tenant=tenant, name="Osaka Agency")
    response = api_client.get(URL, {"ordering": "name"})
    assert names(response) == ["Osaka Agency", "Tokyo Reseller"]
    assert response.json()["results"][1]["email_domains"] == ["tokyo-reseller.jp"]


@pytest.mark.django_db
def test_filters_and_ordering(api_client, tenant, noise):
    PartnerFactory(tenant=tenant, name="A Gold", program_tier="gold", status="active")
    PartnerFactory(tenant=tenant, name="B Gold inactive", program_tier="gold", status="inactive")
    PartnerFactory(tenant=tenant, name="C Silver", program_tier="silver")
    assert names(api_client.get(URL, {"program_tier": "gold", "ordering": "-name"})) == [
        "B Gold inactive",
        "A Gold",
    ]
    assert names(api_client.get(URL, {"status": "inactive"})) == ["B Gold inactive"]
    assert names(api_client.get(URL, {"name": "silver"})) == ["C Silver"]
    assert api_client.get(URL, {"program_tier": "diamond"}).status_code == 400
    # An ordering field that is not offered is ignored (DRF), never an error.
    unordered = api_client.get(URL, {"ordering": "notes"})
    assert unordered.status_code == 200
    assert sorted(names(unordered)) == ["A Gold", "B Gold inactive", "C Silver"]


@pytest.mark.django_db
def test_cursor_pagination_walks_every_partner_once(api_client, tenant, noise):
    for n in range(5):
        PartnerFactory(tenant=tenant, name=f"P{n}")
    seen, url, params = [], URL, {"page_size": 2}
    while url:
        body = api_client.get(url, params).json()
        seen += [p["name"] for p in body["results"]]
        url, params = body["next"], None
    assert sorted(seen) == [f"P{n}" for n in range(5)]


@pytest.mark.django_db
def test_retrieve_update_delete_own_partner(api_client, tenant):
    partner = PartnerFactory(tenant=tenant, name="Old name")
    detail = f"{URL}{partner.pk}/"
    assert api_client.get(detail).json()["name"] == "Old name"
    response = api_client.patch(
        detail, {"name": "New name", "external_id": "001A00000000001"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["external_id"] == to_18("001A00000000001")
    assert api_client.delete(detail).status_code == 204
    assert stored(tenant) == {}


@pytest.mark.django_db
def test_delete_partner_with_deals_is_409_not_500(api_client, tenant):
    deal = DealFactory(rep__partner__tenant=tenant)
    response = api_client.delete(f"{URL}{deal.partner_id}/")
    assert response.status_code == 409
    assert response.json()["detail"]


@pytest.mark.django_db
def test_another_tenants_partner_is_404_for_every_method(api_client, noise):
    detail = f"{URL}{noise[0].pk}/"
    assert api_client.get(detail).status_code == 404
    assert api_client.patch(detail, {"name": "Mine now"}, format="json").status_code == 404
    assert api_client.delete(detail).status_code == 404
    assert api_client.get(f"{URL}999999999/").status_code == 404
    assert api_client.get(f"{URL}not-a-number/").status_code == 404
    noise[0].refresh_from_db()
    assert noise[0].name == "Rival Reseller"


@pytest.mark.django_db
def test_create_takes_the_tenant_from_the_key_never_the_payload(api_client, tenant, other_tenant):
    response = api_client.post(
        URL,
        {"name": "New Partner", "tenant": other_tenant.pk, "partner_type": "agency"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert stored(tenant)["New Partner"].partner_type == "agency"
    assert stored(other_tenant) == {}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": ""}, "name"),
        ({}, "name"),
        ({"name": "X", "partner_type": "distributor"}, "partner_type"),
        ({"name": "X", "competing_products": "four"}, "competing_products"),
        ({"name": "X", "contract_start": "next spring"}, "contract_start"),
        ({"name": "X", "external_id": "bad id"}, "external_id"),
    ],
)
def test_create_rejects_bad_input(api_client, tenant, payload, field):
    response = api_client.post(URL, payload, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert stored(tenant) == {}


@pytest.mark.django_db
def test_duplicate_external_id_is_400_but_other_tenants_is_free(api_client, tenant, noise):
    PartnerFactory(tenant=tenant, external_id=to_18("001A00000000001"))
    clash = api_client.post(URL, {"name": "X", "external_id": "001A00000000001"}, format="json")
    assert clash.status_code == 400
    # The same Account Id in another tenant is no clash (and reveals nothing).
    free = api_client.post(URL, {"name": "Y", "external_id": "001B00000000001"}, format="json")
    assert free.status_code == 201


@pytest.mark.django_db
def test_bulk_creates_updates_and_counts_unchanged(api_client, tenant, noise):
    PartnerFactory(tenant=tenant, name="Existing", external_id=to_18("001A00000000001"))
    PartnerFactory(tenant=tenant, name="Same", external_id=to_18("001A00000000002"))
    records = [
        {"external_id": "001A00000000001", "name": "Existing renamed", "program_tier": "gold"},
        {"external_id": to_18("001A00000000002"), "name": "Same"},
        {"external_id": "001A00000000003", "name": "Brand new"},
        # Another tenant's Account Id: created in ours, theirs untouched.
        {"external_id": "001B00000000001", "name": "Ours too"},
    ]
    response = api_client.post(BULK, records, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["created"], body["updated"], body["unchanged"]) == (2, 1, 1)
    partners = stored(tenant)
    assert body["ids"] == [
        partners["Existing renamed"].pk,
        partners["Same"].pk,
        partners["Brand new"].pk,
        partners["Ours too"].pk,
    ]
    assert partners["Existing renamed"].program_tier == "gold"
    noise[0].refresh_from_db()
    assert noise[0].name == "Rival Reseller"
    replay = api_client.post(BULK, records, format="json").json()
    assert (replay["created"], replay["updated"], replay["unchanged"]) == (0, 0, 4)


@pytest.mark.django_db
def test_bulk_with_bad_records_writes_nothing(api_client, tenant):
    records = [
        {"external_id": "001A00000000001", "name": "Fine"},
        {"external_id": "", "name": "No key"},
        {"external_id": "001A00000000003", "name": "Bad type", "partner_type": "distributor"},
        {"external_id": "001A00000000001", "name": "Duplicate key"},
        "not an object",
    ]
    response = api_client.post(BULK, records, format="json")
    assert response.status_code == 400
    errors = {(e["index"], e["field"]) for e in response.json()["errors"]}
    assert {(1, "external_id"), (2, "partner_type"), (4, "")} <= errors
    assert stored(tenant) == {}
    # Once the records are valid, the duplicate key is reported on its own.
    response = api_client.post(BULK, [records[0], records[3]], format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"index": 1, "field": "external_id", "message": response.json()["errors"][0]["message"]}
    ]


@pytest.mark.django_db
def test_bulk_over_the_limit_is_413(api_client, tenant):
    response = api_client.post(BULK, [{"external_id": "x", "name": "x"}] * 10_001, format="json")
    assert response.status_code == 413
    assert "10000" in response.json()["detail"]


@pytest.mark.django_db
@override_settings(API_MAX_BODY_BYTES=200)
def test_bulk_over_size_body_is_413(api_client, tenant):
    records = [{"external_id": f"001A0000000000{n}", "name": "x" * 50} for n in range(5)]
    assert api_client.post(BULK, records, format="json").status_code == 413


@pytest.mark.django_db
def test_bulk_not_a_list_is_400_and_form_is_415(api_client):
    assert api_client.post(BULK, {"external_id": "x"}, format="json").status_code == 400
    assert api_client.post(BULK, {"external_id": "x"}).status_code == 415


# --- roles ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_anonymous_is_401_everywhere(tenant):
    partner = PartnerFactory(tenant=tenant)
    client = APIClient()
    assert client.get(URL).status_code == 401
    assert client.get(f"{URL}{partner.pk}/").status_code == 401
    assert client.post(URL, {"name": "x"}, format="json").status_code == 401
    assert client.post(BULK, [], format="json").status_code == 401
    assert client.delete(f"{URL}{partner.pk}/").status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "write"),
    [(Role.OWNER, True), (Role.MANAGER, False), (Role.STAFF, False), (Role.VIEWER, False)],
)
def test_every_role_reads_only_owners_and_keys_write(tenant, noise, role, write):
    partner = PartnerFactory(tenant=tenant, name="Ours")
    client = member_api_client(tenant, role)
    assert names(client.get(URL)) == ["Ours"]
    assert client.get(f"{URL}{partner.pk}/").status_code == 200
    created = client.post(URL, {"name": "New"}, format="json")
    bulk = client.post(BULK, [{"external_id": "001A00000000009", "name": "Bulk"}], format="json")
    patched = client.patch(f"{URL}{partner.pk}/", {"name": "Renamed"}, format="json")
    if write:
        assert (created.status_code, bulk.status_code, patched.status_code) == (201, 200, 200)
    else:
        assert {created.status_code, bulk.status_code, patched.status_code} == {403}
        assert set(stored(tenant)) == {"Ours"}


@pytest.mark.django_db
def test_other_tenants_key_sees_nothing_of_ours(other_api_client, tenant):
    partner = PartnerFactory(tenant=tenant, name="Ours")
    assert names(other_api_client.get(URL)) == []
    assert other_api_client.get(f"{URL}{partner.pk}/").status_code == 404
    assert other_api_client.delete(f"{URL}{partner.pk}/").status_code == 404
    assert set(stored(tenant)) == {"Ours"}


@pytest.mark.django_db
def test_member_without_tenant_is_403(client):
    from tests.factories import UserFactory

    api = APIClient()
    api.force_login(UserFactory())
    assert api.get(URL).status_code == 403
