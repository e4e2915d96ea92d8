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
