"""Core pages: owners' settings (members and roles, API keys) and the tenant switcher."""

import pytest
from django.urls import reverse

from pse_crm.models import Membership, TenantAPIKey
from pse_crm.roles import Role
from pse_crm.tenancy import tenant_scope
from tests.factories import MembershipFactory, make_api_key

pytestmark = pytest.mark.django_db


def test_settings_are_for_owners_only(manager_client, viewer_client, client):
    for url in (reverse("settings-members"), reverse("settings-api-keys")):
        assert manager_client.get(url).status_code == 403
        assert viewer_client.get(url).status_code == 403
    client.logout()
    assert client.get(reverse("settings-members"))["Location"].startswith("/login/")


def test_members_page_lists_only_this_tenants_members(owner_client, tenant, other_tenant):
    MembershipFactory(tenant=tenant, role=Role.STAFF, user__email="ours@acme.example")
    MembershipFactory(tenant=other_tenant, role=Role.OWNER, user__email="theirs@rival.example")
    html = owner_client.get(reverse("settings-members")).content.decode()
    assert "ours@acme.example" in html and "theirs@rival.example" not in html


def test_owner_changes_a_role(owner_client, tenant):
    # Adding is an invitation the person accepts: tests/pse_crm/test_invitations.py.
    membership = MembershipFactory(tenant=tenant, role=Role.MANAGER)
    owner_client.post(
        reverse("settings-member-update", args=[membership.pk]),
        {"role": "viewer", "is_active": "on"},
    )
    membership.refresh_from_db()
    assert membership.role == Role.VIEWER and membership.is_active


def test_the_last_owner_cannot_demote_themself(owner_client, owner, tenant):
    with tenant_scope(tenant):
        mine = Membership.objects.get(user=owner)
    owner_client.post(reverse("settings-member-update", args=[mine.pk]), {"role": "viewer"})
    mine.refresh_from_db()
    assert mine.role == Role.OWNER and mine.is_active


def test_another_tenants_membership_is_404(owner_client, other_tenant):
    theirs = MembershipFactory(tenant=other_tenant, role=Role.STAFF)
    response = owner_client.post(
        reverse("settings-member-update", args=[theirs.pk]), {"role": "owner", "is_active": "on"}
    )
    assert response.status_code == 404


def test_api_key_is_shown_once_and_revocable(owner_client, tenant, other_tenant):
    make_api_key(other_tenant, name="Rival sync")
    response = owner_client.post(
        reverse("settings-api-keys"), {"name": "Salesforce sync", "scopes": ["write"]}
    )
    html = response.content.decode()
    key = TenantAPIKey.objects.get(tenant=tenant, name="Salesforce sync")
    shown = html[html.index('data-testid="new-key">') + len('data-testid="new-key">') :].split("<")[
        0
    ]
    assert shown.startswith(key.prefix) and TenantAPIKey.objects.is_valid(shown)
    listing = owner_client.get(reverse("settings-api-keys")).content.decode()
    assert "Salesforce sync" in listing and shown not in listing and "Rival sync" not in listing
    owner_client.post(reverse("settings-api-key-revoke", args=[key.prefix]))
    key.refresh_from_db()
    assert key.revoked


def test_another_tenants_api_key_cannot_be_revoked(owner_client, other_tenant):
    theirs, _ = make_api_key(other_tenant)
    assert (
        owner_client.post(reverse("settings-api-key-revoke", args=[theirs.prefix])).status_code
        == 404
    )
    theirs.refresh_from_db()
    assert not theirs.revoked


def test_settings_pages_query_count_is_flat(owner_client, tenant, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        owner_client.get(reverse("settings-members"))
        owner_client.get(reverse("settings-api-keys"))
    for i in range(10):
        MembershipFactory(tenant=tenant, role=Role.STAFF)
        make_api_key(tenant, name=f"key {i}")
    with django_assert_max_num_queries(len(few)):
        owner_client.get(reverse("settings-members"))
        owner_client.get(reverse("settings-api-keys"))
