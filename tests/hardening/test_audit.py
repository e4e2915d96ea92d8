"""The audit trail: who changed what on deals, tasks, settings and memberships; owners see it."""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from django.urls import reverse

from activities.models import Deal
from pse_crm.api.auth import APIKeyPrincipal
from pse_crm.audit import AuditMiddleware
from pse_crm.models import AuditEvent, Membership
from pse_crm.roles import Role
from pse_crm.tenancy import tenant_scope
from tests.activities.factories import DealFactory
from tests.factories import MembershipFactory, make_api_key
from tests.reps.factories import RepFactory

pytestmark = pytest.mark.django_db


def _in_request(user, action):
    """Run ``action`` as the body of a request made by ``user``."""
    request = RequestFactory().post("/")
    request.user = user
    result = {}

    def view(req):
        result["value"] = action()
        return None

    AuditMiddleware(view)(request)
    return result.get("value")


def _events(tenant, **filters):
    with tenant_scope(tenant):
        return list(AuditEvent.objects.filter(**filters).order_by("pk"))


def test_a_role_change_is_recorded_with_who_and_old_and_new(tenant, owner, staff):
    membership = Membership.of_user.get(user=staff, tenant=tenant)

    def promote():
        with tenant_scope(tenant):
            membership.role = Role.MANAGER
            membership.save(update_fields=["role"])

    _in_request(owner, promote)
    (event,) = _events(tenant, model_label="pse_crm.Membership", action="update")
    assert event.actor == owner and event.actor_label == owner.email
    assert event.changes == {"role": ["Staff", "Manager"]}
    assert event.object_id == str(membership.pk)


def test_deal_create_change_and_delete_are_recorded(tenant):
    with tenant_scope(tenant):
        deal = DealFactory(tenant=tenant, stage="Prospecting", amount=1000, name="Big one")
        other_rep = RepFactory(tenant=tenant, partner=deal.partner, name="Hanako Sato")
        deal.stage, deal.amount, deal.rep = "Negotiation", 2500, other_rep
        deal.save()
        deal.save()  # nothing changed: nothing recorded
        pk = deal.pk
        Deal.objects.filter(pk=pk).first().delete()
    events = _events(tenant, model_label="activities.Deal")
    assert [e.action for e in events] == ["create", "update", "delete"]
    assert events[0].changes["name"] == [None, "Big one"]
    assert events[1].changes["stage"] == ["Prospecting", "Negotiation"]
    assert [str(v) for v in events[1].changes["amount"]] == ["1000.00", "2500"]
    assert events[1].changes["rep"][1] == "Hanako Sato"
    assert {e.actor_label for e in events} == {"system"}
    assert events[2].object_repr == "Big one"


def test_a_change_through_an_api_key_names_the_key(tenant):
    key, _ = make_api_key(tenant, name="Salesforce sync")
    with tenant_scope(tenant):
        deal = DealFactory(tenant=tenant, stage="Prospecting")

    def close():
        with tenant_scope(tenant):
            deal.is_closed = deal.is_won = True
            deal.save()

    _in_request(APIKeyPrincipal(key), close)
    (event,) = _events(tenant, model_label="activities.Deal", action="update")
    assert event.actor is None
    assert event.actor_label == "API key: Salesforce sync"
    assert event.changes["is_won"] == [False, True]


def test_owners_see_their_tenants_trail_and_no_other(owner_client, tenant, other_tenant, owner):
    with tenant_scope(tenant):
        DealFactory(tenant=tenant, name="Acme deal")
    with tenant_scope(other_tenant):
        DealFactory(tenant=other_tenant, name="Rival deal")
    response = owner_client.get(reverse("settings-audit"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Acme deal" in html
    assert "Rival deal" not in html
    filtered = owner_client.get(reverse("settings-audit"), {"type": "pse_crm.Membership"})
    assert "Acme deal" not in filtered.content.decode()
    assert owner.email in filtered.content.decode()


@pytest.mark.parametrize("role", [Role.MANAGER, Role.STAFF, Role.VIEWER])
def test_only_owners_see_the_trail(client, tenant, role):
    client.force_login(MembershipFactory(tenant=tenant, role=role).user)
    assert client.get(reverse("settings-audit")).status_code == 403


def test_anonymous_is_sent_to_login(client):
    response = client.get(reverse("settings-audit"))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]
