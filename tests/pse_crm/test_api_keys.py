"""API keys: created by command or by an owner in the admin, hashed, shown once, revocable,
with last-used time; session use with CSRF; throttling per key; schema and docs."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from pse_crm.api.auth import PerKeyThrottle
from pse_crm.models import TenantAPIKey
from pse_crm.roles import Role
from tests.factories import MembershipFactory, make_api_key
from tests.partners.factories import PartnerFactory

PARTNERS = "/api/v1/partners/"


def bearer(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.mark.django_db
def test_create_api_key_prints_the_key_alone_on_its_last_line(tenant):
    PartnerFactory(tenant=tenant, name="Ours")
    out = io.StringIO()
    call_command("create_api_key", tenant="acme", name="salesforce sync", stdout=out)
    key = out.getvalue().strip().splitlines()[-1]
    stored = TenantAPIKey.objects.get(name="salesforce sync")
    assert stored.tenant == tenant
    # Stored hashed: the key itself is nowhere in the row.
    assert key not in (stored.id, stored.hashed_key) and key.startswith(stored.prefix)
    response = bearer(key).get(PARTNERS)
    assert response.status_code == 200
    assert [p["name"] for p in response.json()["results"]] == ["Ours"]


@pytest.mark.django_db
def test_create_api_key_refuses_unknown_tenant_and_empty_name(tenant):
    with pytest.raises(CommandError, match="Unknown tenant"):
        call_command("create_api_key", tenant="nope", name="x", stdout=io.StringIO())
    with pytest.raises(CommandError, match="empty"):
        call_command("create_api_key", tenant="acme", name="  ", stdout=io.StringIO())
    assert not TenantAPIKey.objects.exists()


@pytest.mark.django_db
def test_revoked_expired_and_wrong_keys_are_401(tenant):
    revoked, revoked_key = make_api_key(tenant, "old")
    revoked.revoked = True
    revoked.save()
    expired, expired_key = make_api_key(tenant, "expired")
    expired.expiry_date = timezone.now() - dt.timedelta(days=1)
    expired.save()
    _, good_key = make_api_key(tenant, "good")
    tampered = good_key[:-2] + ("AA" if not good_key.endswith("AA") else "BB")
    for key in (revoked_key, expired_key, tampered, "no-dot-key", ""):
        response = bearer(key).get(PARTNERS)
        assert response.status_code == 401, key
        assert response["WWW-Authenticate"] == "Bearer"
    assert bearer(good_key).get(PARTNERS).status_code == 200


@pytest.mark.django_db
def test_inactive_tenant_key_is_401(tenant):
    _, key = make_api_key(tenant)
    tenant.is_active = False
    tenant.save()
    assert bearer(key).get(PARTNERS).status_code == 401


@pytest.mark.django_db
def test_malformed_authorization_header_is_401(tenant):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer two parts")
    assert client.get(PARTNERS).status_code == 401
    assert APIClient().get(PARTNERS).status_code == 401


@pytest.mark.django_db
def test_last_used_time_is_recorded(tenant):
    api_key, key = make_api_key(tenant)
    assert api_key.last_used_at is None
    bearer(key).get(PARTNERS)
    api_key.refresh_from_db()
    assert api_key.last_used_at is not None
    assert timezone.now() - api_key.last_used_at < dt.timedelta(minutes=1)


@pytest.mark.django_db
def test_owner_creates_a_key_in_the_admin_and_sees_it_once(client, tenant):
    owner = MembershipFactory(tenant=tenant, role=Role.OWNER).user
    owner.is_staff = True
    owner.save()
    client.force_login(owner)
    response = client.post(
        "/admin/pse_crm/tenantapikey/add/", {"name": "content platform"}, follow=True
    )
    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    stored = TenantAPIKey.objects.get(name="content platform")
    assert stored.tenant == tenant
    keys = [
        w for m in messages for w in m.split() if w.startswith(stored.prefix + ".") and "/" not in w
    ]
    assert len(keys) == 1
    key = keys[0]
    assert bearer(key).get(PARTNERS).status_code == 200
    # The list page never shows the key again.
    listing = client.get("/admin/pse_crm/tenantapikey/").content.decode()
    assert key not in listing and "content platform" in listing

    # The owner revokes it: the key stops working.
    client.post(
        f"/admin/pse_crm/tenantapikey/{stored.pk}/change/",
        {"name": "content platform", "revoked": "on"},
    )
    stored.refresh_from_db()
    assert stored.revoked
    assert bearer(key).get(PARTNERS).status_code == 401


@pytest.mark.django_db
def test_admin_key_list_shows_only_own_tenant(client, tenant, other_tenant):
    make_api_key(tenant, "ours")
    make_api_key(other_tenant, "theirs")
    owner = MembershipFactory(tenant=tenant, role=Role.OWNER).user
    owner.is_staff = True
    owner.save()
    client.force_login(owner)
    page = client.get("/admin/pse_crm/tenantapikey/").content.decode()
    assert "ours" in page and "theirs" not in page


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.MANAGER, Role.STAFF, Role.VIEWER])
def test_only_owners_manage_keys_in_the_admin(client, tenant, role):
    user = MembershipFactory(tenant=tenant, role=role).user
    user.is_staff = True
    user.save()
    client.force_login(user)
    response = client.post("/admin/pse_crm/tenantapikey/add/", {"name": "sneaky"})
    assert response.status_code == 403
    assert not TenantAPIKey.objects.filter(name="sneaky").exists()


@pytest.mark.django_db
def test_session_use_enforces_csrf(tenant):
    owner = MembershipFactory(tenant=tenant, role=Role.OWNER).user
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.get(PARTNERS).status_code == 200
    refused = client.post(PARTNERS, {"name": "No token"}, format="json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    token = "k8Z2wQ9rT4yU6iO1pA3sD5fG7hJ0lXcV"  # a well-formed CSRF secret
    client.cookies["csrftoken"] = token
    accepted = client.post(PARTNERS, {"name": "With token"}, format="json", HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 201, accepted.content


@pytest.mark.django_db
def test_throttle_is_per_key(tenant, monkeypatch):
    monkeypatch.setattr(PerKeyThrottle, "rate", "2/min", raising=False)
    cache.clear()
    _, first = make_api_key(tenant, "first")
    _, second = make_api_key(tenant, "second")
    statuses = [bearer(first).get(PARTNERS).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert bearer(second).get(PARTNERS).status_code == 200
    cache.clear()


@pytest.mark.django_db
def test_schema_and_docs_are_served_without_a_cdn(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200, schema.content[:500]
    text = schema.content.decode()
    for path in (
        "/api/v1/partners/bulk/",
        "/api/v1/reps/bulk/",
        "/api/v1/materials/bulk/",
        "/api/v1/material-views/",
        "/api/v1/deals/sync/",
    ):
        assert path in text
    assert "'413'" in text and "'415'" in text and "'404'" in text
    docs = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in docs
    assert "cdn." not in docs and "unpkg" not in docs and "jsdelivr" not in docs


# --- scopes: read (results), write (the data feed), outbound (Outbound Messages only) ----

RESULTS = [
    "/api/v1/segments/",
    "/api/v1/segmentation/partners/",
    "/api/v1/momentum/",
    "/api/v1/momentum/indicators/",
    "/api/v1/quick-wins/",
    "/api/v1/quick-wins/rates/?group_by=kind",
    "/api/v1/deal-signals/",
]
DATA = [
    "/api/v1/partners/",
    "/api/v1/reps/",
    "/api/v1/materials/",
    "/api/v1/material-views/",
    "/api/v1/deals/",
    "/api/v1/deals/sync/",
]
# Neither results nor data: members' work (tasks, hearings, know-how, rules, runs, settings).
MEMBERS_ONLY = [
    "/api/v1/support-tasks/",
    "/api/v1/hearings/",
    "/api/v1/know-how/",
    "/api/v1/deal-signal-rules/",
    "/api/v1/segmentation/runs/",
    "/api/v1/segmentation/settings/",
]
SYNC_BODY = [
    {
        "sf_id": "006000000000001AAA",
        "name": "Scoped",
        "system_modstamp": "2026-03-31T09:00:00Z",
    }
]


def scoped(tenant, scopes: str) -> APIClient:
    from pse_crm.services.api_keys import api_key_create

    _, key = api_key_create(tenant=tenant, name=f"{scopes} key", scopes=scopes)
    return bearer(key)


def _refused(response) -> None:
    assert response.status_code == 403, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json")
    assert "scopes" in response.json()["detail"]


@pytest.fixture
def results(tenant, other_tenant):
    from tests.segmentation.factories import RepSegmentFactory

    ours = RepSegmentFactory(rep__partner=PartnerFactory(tenant=tenant, name="Ours"))
    RepSegmentFactory(rep__partner=PartnerFactory(tenant=other_tenant, name="Theirs"))
    return ours


@pytest.mark.django_db
def test_a_read_key_reads_results_and_data_of_its_tenant_only(tenant, results):
    client = scoped(tenant, "read")
    for url in RESULTS + DATA:
        assert client.get(url).status_code == 200, url
    segments = client.get("/api/v1/segments/").json()["results"]
    assert [s["rep"] for s in segments] == [results.rep.pk]
    assert {p["name"] for p in client.get(PARTNERS).json()["results"]} == {"Ours"}


@pytest.mark.django_db
def test_a_read_key_is_refused_every_write(tenant):
    from activities.models import Deal
    from partners.models import Partner
    from pse_crm.tenancy import tenant_scope

    client = scoped(tenant, "read")
    partner = PartnerFactory(tenant=tenant, name="Kept")
    _refused(client.post(PARTNERS, {"name": "New"}, format="json"))
    _refused(client.post("/api/v1/partners/bulk/", [{"name": "New"}], format="json"))
    _refused(client.patch(f"{PARTNERS}{partner.pk}/", {"name": "Changed"}, format="json"))
    _refused(client.post("/api/v1/deals/sync/", SYNC_BODY, format="json"))
    _refused(client.post("/api/v1/quick-wins/recompute/"))
    _refused(client.post("/api/v1/segmentation/runs/", {}, format="json"))
    with tenant_scope(tenant):
        assert list(Partner.objects.values_list("name", flat=True)) == ["Kept"]
        assert not Deal.objects.exists()


@pytest.mark.django_db
def test_a_write_key_feeds_data_and_is_refused_results(tenant, results):
    client = scoped(tenant, "write")
    for url in RESULTS:
        _refused(client.get(url))
    for url in DATA:
        assert client.get(url).status_code == 200, url
    assert client.post("/api/v1/deals/sync/", SYNC_BODY, format="json").status_code == 200


@pytest.mark.django_db
def test_an_outbound_key_is_refused_everywhere_else(tenant, results):
    client = scoped(tenant, "outbound")
    for url in RESULTS + DATA + MEMBERS_ONLY:
        _refused(client.get(url))
    _refused(client.post("/api/v1/deals/sync/", SYNC_BODY, format="json"))
    _refused(client.post(PARTNERS, {"name": "New"}, format="json"))


@pytest.mark.django_db
@pytest.mark.parametrize("scopes", ["read", "write", "read,write", "outbound,read,write"])
def test_no_key_reaches_members_work(tenant, scopes):
    client = scoped(tenant, scopes)
    for url in MEMBERS_ONLY:
        _refused(client.get(url))


@pytest.mark.django_db
def test_a_key_with_read_and_write_does_both(tenant, results):
    client = scoped(tenant, "read,write")
    for url in RESULTS + DATA:
        assert client.get(url).status_code == 200, url
    assert client.post(PARTNERS, {"name": "Fed"}, format="json").status_code == 201


@pytest.mark.django_db
def test_create_api_key_takes_scopes(tenant):
    out = io.StringIO()
    call_command("create_api_key", tenant="acme", name="quadrants", scope="write, read", stdout=out)
    stored = TenantAPIKey.objects.get(name="quadrants")
    assert stored.scopes == "read,write"
    assert "scopes read,write" in out.getvalue()
    call_command("create_api_key", tenant="acme", name="feed", stdout=io.StringIO())
    assert TenantAPIKey.objects.get(name="feed").scopes == "write"


@pytest.mark.django_db
@pytest.mark.parametrize("scope", ["admin", "read,admin", "", " , "])
def test_create_api_key_refuses_an_unknown_or_missing_scope(tenant, scope):
    with pytest.raises(CommandError, match="--scope"):
        call_command("create_api_key", tenant="acme", name="x", scope=scope, stdout=io.StringIO())
    assert not TenantAPIKey.objects.exists()


@pytest.mark.django_db
def test_only_the_stored_form_of_scopes_can_be_saved(tenant):
    from django.core.exceptions import ValidationError
    from django.db import IntegrityError, transaction

    for bad in ("admin", "write,read", "read,read", ""):
        key = TenantAPIKey(tenant=tenant, name="bad", scopes=bad)
        with pytest.raises(ValidationError):
            key.full_clean(exclude=["id", "prefix", "hashed_key"])
        with pytest.raises(IntegrityError), transaction.atomic():
            TenantAPIKey.objects.create_key(tenant=tenant, name="bad", scopes=bad)
    assert not TenantAPIKey.objects.exists()


@pytest.mark.django_db
def test_owners_choose_scopes_on_the_settings_page_and_see_them(client, tenant, other_tenant):
    owner = MembershipFactory(tenant=tenant, role=Role.OWNER).user
    client.force_login(owner)
    page = client.get("/settings/api-keys/").content.decode()
    assert 'name="scopes" value="read"' in page and 'name="scopes" value="outbound"' in page
    response = client.post("/settings/api-keys/", {"name": "quadrants", "scopes": ["read"]})
    assert response.status_code == 200
    key = response.context["new_key"]
    stored = TenantAPIKey.objects.get(name="quadrants")
    assert (stored.tenant, stored.scopes) == (tenant, "read")
    assert bearer(key).get("/api/v1/segments/").status_code == 200
    _refused(bearer(key).post(PARTNERS, {"name": "New"}, format="json"))
    TenantAPIKey.objects.create_key(tenant=other_tenant, name="theirs", scopes="outbound")
    listing = client.get("/settings/api-keys/").content.decode()
    assert "quadrants" in listing and "theirs" not in listing
    assert '<span class="badge">read</span>' in listing


@pytest.mark.django_db
@pytest.mark.parametrize("scopes", [[], ["admin"], ["read", "root"]])
def test_the_settings_page_refuses_no_scope_or_an_unknown_one(client, tenant, scopes):
    owner = MembershipFactory(tenant=tenant, role=Role.OWNER).user
    client.force_login(owner)
    response = client.post("/settings/api-keys/", {"name": "bad", "scopes": scopes})
    assert response.status_code == 200
    assert response.context["new_key"] is None
    assert response.context["form"].errors["scopes"]
    assert not TenantAPIKey.objects.exists()


def test_a_key_acts_with_one_role_per_scope_and_never_a_members(tenant):
    from django.test import RequestFactory

    from pse_crm import roles
    from pse_crm.api.auth import APIKeyPrincipal
    from pse_crm.models import Membership
    from pse_crm.permissions import request_allows, request_role, request_roles

    request = RequestFactory().get("/")
    request.membership = Membership(tenant=tenant, role=Role.OWNER)
    request.user = APIKeyPrincipal(TenantAPIKey(tenant=tenant, name="k", scopes="read,write"))
    assert request_roles(request) == {roles.RESULTS_READER, roles.INTEGRATION}
    assert request_role(request) is None  # several scopes: no single role to lend
    assert request_allows(request, roles.READ_RESULTS) and request_allows(request, roles.WRITE_DATA)
    assert not request_allows(request, roles.MANAGE) and not request_allows(request, roles.OWN)
    request.user = APIKeyPrincipal(TenantAPIKey(tenant=tenant, name="k", scopes="outbound"))
    capabilities = [roles.READ, roles.READ_DATA, roles.READ_RESULTS, roles.WRITE_DATA]
    assert not any(request_allows(request, c) for c in capabilities)
