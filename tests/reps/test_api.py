"""/api/v1/reps/: list, filters, CRUD, bulk upsert by external_id or email, isolation."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from pse_crm.roles import Role
from pse_crm.sfid import to_18
from pse_crm.tenancy import tenant_scope
from reps.models import Rep
from tests.helpers import member_api_client
from tests.partners.factories import PartnerFactory
from tests.reps.factories import RepFactory

URL = "/api/v1/reps/"
BULK = "/api/v1/reps/bulk/"
ACCOUNT = "001A00000000001"


def names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return sorted(r["name"] for r in response.json()["results"])


def stored(tenant) -> dict[str, Rep]:
    with tenant_scope(tenant):
        return {r.name: r for r in Rep.objects.select_related("partner")}


@pytest.fixture
def partner(tenant):
    return PartnerFactory(tenant=tenant, name="Tokyo Reseller", external_id=to_18(ACCOUNT))


@pytest.fixture
def noise(other_tenant):
    rival = PartnerFactory(tenant=other_tenant, name="Rival", external_id=to_18("001B00000000001"))
    return RepFactory(partner=rival, name="Rival Rep", email="rival@rival.example.jp")


@pytest.mark.django_db
def test_list_and_filters_show_only_own_reps(api_client, tenant, partner, noise):
    other_partner = PartnerFactory(tenant=tenant, name="Osaka Agency")
    RepFactory(partner=partner, name="Sato", email="sato@tokyo.example.jp", is_employed=True)
    RepFactory(partner=other_partner, name="Kato", is_employed=False)
    assert names(api_client.get(URL)) == ["Kato", "Sato"]
    assert names(api_client.get(URL, {"partner": partner.pk})) == ["Sato"]
    assert names(api_client.get(URL, {"is_employed": "false"})) == ["Kato"]
    assert names(api_client.get(URL, {"email": "SATO@tokyo.example.jp"})) == ["Sato"]
    assert api_client.get(URL, {"is_employed": "perhaps"}).status_code == 400


@pytest.mark.django_db
def test_filter_by_another_tenants_partner_is_404(api_client, noise):
    assert api_client.get(URL, {"partner": noise.partner_id}).status_code == 404
    assert api_client.get(URL, {"partner": 987654321}).status_code == 404


@pytest.mark.django_db
def test_create_by_partner_id_or_external_id(api_client, tenant, partner):
    by_id = api_client.post(
        URL,
        {"partner": partner.pk, "name": "Sato", "email": "Sato@Tokyo.example.jp"},
        format="json",
    )
    assert by_id.status_code == 201, by_id.content
    assert by_id.json()["email"] == "sato@tokyo.example.jp"
    by_ext = api_client.post(
        URL,
        {"partner_external_id": ACCOUNT, "name": "Kato", "salesforce_user_id": "005A00000000001"},
        format="json",
    )
    assert by_ext.status_code == 201, by_ext.content
    reps = stored(tenant)
    assert reps["Kato"].partner == partner
    assert reps["Kato"].salesforce_user_id == to_18("005A00000000001")


@pytest.mark.django_db
def test_another_tenants_partner_in_the_payload_is_404(api_client, tenant, noise):
    response = api_client.post(URL, {"partner": noise.partner_id, "name": "Spy"}, format="json")
    assert response.status_code == 404
    assert stored(tenant) == {}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "No partner"}, "partner"),
        ({"name": "X", "partner_external_id": "001C00000000001"}, "partner_external_id"),
        ({"name": "X", "email": "not-an-email"}, "email"),
        ({"name": "X", "hire_type": "intern"}, "hire_type"),
        ({"name": "X", "started_at_partner": "2024-13-40"}, "started_at_partner"),
        ({"name": "X", "salesforce_user_id": "005"}, "salesforce_user_id"),
        ({"name": "X", "email": "taken@tokyo.example.jp"}, "email"),
    ],
)
def test_create_rejects_bad_input(api_client, tenant, partner, payload, field):
    RepFactory(partner=partner, name="Taken", email="TAKEN@tokyo.example.jp")
    if "partner" not in payload and "partner_external_id" not in payload and field != "partner":
        payload = {**payload, "partner": partner.pk}
    response = api_client.post(URL, payload, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert set(stored(tenant)) == {"Taken"}


@pytest.mark.django_db
def test_another_tenants_rep_is_404(api_client, noise):
    detail = f"{URL}{noise.pk}/"
    assert api_client.get(detail).status_code == 404
    assert api_client.patch(detail, {"name": "Mine"}, format="json").status_code == 404
    assert api_client.delete(detail).status_code == 404
    noise.refresh_from_db()
    assert noise.name == "Rival Rep"


@pytest.mark.django_db
def test_update_and_delete(api_client, tenant, partner):
    rep = RepFactory(partner=partner, name="Sato")
    response = api_client.patch(f"{URL}{rep.pk}/", {"title": "Sales lead"}, format="json")
    assert response.status_code == 200 and response.json()["title"] == "Sales lead"
    assert api_client.delete(f"{URL}{rep.pk}/").status_code == 204
    assert stored(tenant) == {}


@pytest.mark.django_db
def test_bulk_upserts_by_external_id_then_email(api_client, tenant, partner, noise):
    by_ext = RepFactory(
        partner=partner, name="Old Ext", external_id="u-1", email="one@tokyo.example.jp"
    )
    by_mail = RepFactory(partner=partner, name="Old Mail", email="two@tokyo.example.jp")
    records = [
        {"external_id": "u-1", "name": "Ext renamed"},
        {"email": "TWO@tokyo.example.jp", "name": "Mail renamed", "external_id": "u-2"},
        {"email": "three@tokyo.example.jp", "name": "New", "partner_external_id": ACCOUNT},
        # Same email as another tenant's rep: a new rep of ours, theirs untouched.
        {"email": "rival@rival.example.jp", "name": "Ours", "partner": partner.pk},
    ]
    response = api_client.post(BULK, records, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["created"], body["updated"], body["unchanged"]) == (2, 2, 0)
    reps = stored(tenant)
    assert reps["Ext renamed"].pk == by_ext.pk
    assert reps["Mail renamed"].pk == by_mail.pk and reps["Mail renamed"].external_id == "u-2"
    assert reps["New"].partner == partner
    noise.refresh_from_db()
    assert noise.name == "Rival Rep"
    replay = api_client.post(BULK, records, format="json").json()
    assert replay["unchanged"] == 4


@pytest.mark.django_db
def test_bulk_bad_records_write_nothing(api_client, tenant, partner):
    records = [
        {"email": "ok@tokyo.example.jp", "name": "Ok", "partner": partner.pk},
        {"name": "No key", "partner": partner.pk},
        {
            "email": "new@tokyo.example.jp",
            "name": "Unknown partner",
            "partner_external_id": "001C00000000001",
        },
    ]
    response = api_client.post(BULK, records, format="json")
    assert response.status_code == 400
    assert [(e["index"], e["field"]) for e in response.json()["errors"]] == [(1, "external_id")]
    response = api_client.post(BULK, [records[0], records[2]], format="json")
    assert [(e["index"], e["field"]) for e in response.json()["errors"]] == [
        (1, "partner_external_id")
    ]
    new_without_partner = [{"email": "lost@tokyo.example.jp", "name": "Lost"}]
    response = api_client.post(BULK, new_without_partner, format="json")
    assert [(e["index"], e["field"]) for e in response.json()["errors"]] == [(0, "partner")]
    dup = [records[0], {**records[0], "email": "OK@tokyo.example.jp"}]
    response = api_client.post(BULK, dup, format="json")
    assert [(e["index"], e["field"]) for e in response.json()["errors"]] == [(1, "email")]
    assert stored(tenant) == {}


@pytest.mark.django_db
def test_bulk_with_another_tenants_partner_id_is_404(api_client, tenant, noise):
    records = [{"email": "x@y.example.jp", "name": "X", "partner": noise.partner_id}]
    assert api_client.post(BULK, records, format="json").status_code == 404
    assert stored(tenant) == {}


@pytest.mark.django_db
def test_bulk_over_the_limit_is_413(api_client):
    response = api_client.post(BULK, [{"email": "a@b.jp"}] * 10_001, format="json")
    assert response.status_code == 413


@pytest.mark.django_db
def test_anonymous_is_401(tenant, partner):
    rep = RepFactory(partner=partner)
    client = APIClient()
    for response in (
        client.get(URL),
        client.get(f"{URL}{rep.pk}/"),
        client.post(URL, {}, format="json"),
        client.post(BULK, [], format="json"),
        client.delete(f"{URL}{rep.pk}/"),
    ):
        assert response.status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "write"),
    [(Role.OWNER, True), (Role.MANAGER, False), (Role.STAFF, False), (Role.VIEWER, False)],
)
def test_roles(tenant, partner, noise, role, write):
    rep = RepFactory(partner=partner, name="Sato")
    client = member_api_client(tenant, role)
    assert names(client.get(URL)) == ["Sato"]
    created = client.post(URL, {"partner": partner.pk, "name": "New"}, format="json")
    bulk = client.post(
        BULK, [{"email": "b@t.example.jp", "name": "B", "partner": partner.pk}], format="json"
    )
    deleted = client.delete(f"{URL}{rep.pk}/")
    codes = (created.status_code, bulk.status_code, deleted.status_code)
    assert codes == ((201, 200, 204) if write else (403, 403, 403))


@pytest.mark.django_db
def test_other_tenants_key_sees_nothing_of_ours(other_api_client, tenant, partner):
    rep = RepFactory(partner=partner, name="Sato")
    assert names(other_api_client.get(URL)) == []
    assert other_api_client.get(f"{URL}{rep.pk}/").status_code == 404
