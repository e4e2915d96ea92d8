"""The tenancy context (the tenant switcher's other memberships) is read once a request,
though django-tables2 renders each table with a new RequestContext, and it is the
current user's: a page with tables reads it once and shows the right tenants."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from pse_crm.roles import Role
from tests.factories import MembershipFactory, TenantFactory
from tests.partners.factories import PartnerFactory

pytestmark = pytest.mark.django_db


def _switcher_reads(ctx) -> list[str]:
    return [
        q["sql"]
        for q in ctx.captured_queries
        if 'FROM "pse_crm_membership"' in q["sql"] and "NOT (" in q["sql"]
    ]


def test_a_page_with_a_table_reads_the_other_memberships_once(
    client, manager, tenant, other_tenant
):
    from pse_crm.tenancy import tenant_scope

    third = TenantFactory(slug="third", name="Third Tenant KK")
    MembershipFactory(tenant=other_tenant, user=manager, role=Role.VIEWER)
    MembershipFactory(tenant=third, user=manager, role=Role.STAFF)
    MembershipFactory(tenant=third, role=Role.OWNER)  # another user's: not offered
    with tenant_scope(tenant):
        PartnerFactory(tenant=tenant)
    client.force_login(manager)
    with CaptureQueriesContext(connection) as ctx:
        page = client.get(reverse("partner-list"))
    assert page.status_code == 200
    assert 'class="data"' in page.content.decode()  # the table was rendered
    assert len(_switcher_reads(ctx)) == 1
    offered = [c["other_memberships"] for c in page.context if "other_memberships" in c]
    assert len(offered) >= 2  # the page's context and the table's
    for others in offered:
        assert [m.tenant.name for m in others] == ["Rival Systems", "Third Tenant KK"]


def test_the_context_follows_a_change_of_user_within_a_request(rf, manager, tenant):
    from django.contrib.auth.models import AnonymousUser

    from pse_crm.context_processors import tenancy
    from pse_crm.models import Membership

    request = rf.get("/")
    request.user, request.tenant = manager, tenant
    request.membership = Membership._base_manager.get(user=manager, tenant=tenant)
    assert tenancy(request)["active_membership"] == request.membership
    assert tenancy(request) is tenancy(request)  # read once
    # A fresh copy of the same membership (say, its role changed): read again.
    before = tenancy(request)
    request.membership = Membership._base_manager.get(pk=request.membership.pk)
    assert tenancy(request) is not before
    assert tenancy(request)["active_membership"] is request.membership
    before = tenancy(request)
    request.user = type(manager)._default_manager.get(pk=manager.pk)
    assert tenancy(request) is not before
    request.user, request.membership, request.tenant = AnonymousUser(), None, None
    assert tenancy(request) == {
        "active_tenant": None,
        "active_membership": None,
        "other_memberships": [],
    }
