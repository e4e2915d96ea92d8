"""The API's rules kept once: service errors become API errors in the one exception handler,
one function reads the request's role for pages and the API alike, and one serializer
field accepts a tenant member."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client, RequestFactory
from django.urls import reverse
from rest_framework.test import APIClient

from pse_crm import roles
from pse_crm.api.auth import APIKeyPrincipal
from pse_crm.api.errors import exception_handler
from pse_crm.models import Membership, TenantAPIKey
from pse_crm.permissions import request_role
from pse_crm.roles import Role
from tests.deal_signals.factories import DealSignalFactory
from tests.factories import MembershipFactory
from tests.reps.factories import RepFactory

ROOT = Path(__file__).resolve().parents[2]


# --- one translation of service errors ------------------------------------------------


def test_a_service_error_by_field_is_a_400_by_field():
    error = ValidationError({"due_on": ["Too early."], "kind": ["Unknown task kind."]})
    response = exception_handler(error, {})
    assert response.status_code == 400
    assert response.data == {"due_on": ["Too early."], "kind": ["Unknown task kind."]}


def test_a_service_error_without_fields_is_a_400_detail_list():
    response = exception_handler(ValidationError(["One.", "Two."]), {})
    assert response.status_code == 400
    assert response.data == {"detail": ["One.", "Two."]}


def test_a_service_refusal_is_a_403_with_its_message_or_the_default():
    response = exception_handler(PermissionDenied("Only a manager may do this."), {})
    assert (response.status_code, response.data) == (403, {"detail": "Only a manager may do this."})
    response = exception_handler(PermissionDenied(), {})
    assert response.status_code == 403
    assert response.data == {"detail": "You do not have permission to perform this action."}


def test_viewsets_do_not_translate_service_errors_themselves():
    # The handler does it once; a local try/except would be a second copy of the rule.
    needles = ("except ValidationError", "except DjangoValidationError", "run_service(")
    offenders = [
        f"{path.relative_to(ROOT)}: {needle}"
        for path in [*ROOT.glob("*/api.py"), *ROOT.glob("pse_crm/api/*.py")]
        for needle in needles
        if needle in path.read_text()
    ]
    assert offenders == []


# --- one reading of the role -----------------------------------------------------------


def test_request_role_reads_the_membership_or_the_key(tenant):
    request = RequestFactory().get("/")
    request.user = None
    request.membership = None
    assert request_role(request) is None
    request.membership = Membership(tenant=tenant, role=Role.MANAGER)
    assert request_role(request) == Role.MANAGER
    # A key acts as an integration, whatever membership came along with it.
    request.user = APIKeyPrincipal(TenantAPIKey(tenant=tenant, name="sync"))
    assert request_role(request) == roles.INTEGRATION


@pytest.mark.django_db
def test_a_key_sent_with_an_owners_session_keeps_the_integration_role(tenant, owner, api_key):
    client = APIClient()
    client.force_login(owner)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    rep = RepFactory(partner__tenant=tenant)
    response = client.post(
        "/api/v1/support-tasks/",
        {"rep": rep.pk, "kind": "accompany", "assignee": owner.pk, "due_on": "2099-01-01"},
        format="json",
    )
    assert response.status_code == 403


@pytest.mark.django_db
def test_pages_show_the_owners_links_by_the_same_role(tenant, owner, manager):
    settings = f'href="{reverse("settings-members")}"'
    pages = {}
    for user in (owner, manager):
        client = Client()
        client.force_login(user)
        pages[user] = client.get(reverse("task-list")).content.decode()
    assert settings in pages[owner]
    assert settings not in pages[manager]


# --- one member field ------------------------------------------------------------------


@pytest.mark.django_db
def test_a_member_of_another_tenant_or_a_former_member_is_no_member(tenant, manager, other_manager):
    former = MembershipFactory(tenant=tenant, role=Role.STAFF, is_active=False).user
    signal = DealSignalFactory(rep=RepFactory(partner__tenant=tenant))
    client = APIClient()
    client.force_login(manager)
    for user in (other_manager, former):
        acted = client.patch(
            f"/api/v1/deal-signals/{signal.pk}/",
            {"status": "acted", "assignee": user.pk},
            format="json",
        )
        bulk = client.post("/api/v1/support-tasks/bulk/", {"assignee": user.pk}, format="json")
        for response in (acted, bulk):
            assert response.status_code == 400
            assert response.json()["assignee"] == [
                f'Invalid pk "{user.pk}" - object does not exist.'
            ]
