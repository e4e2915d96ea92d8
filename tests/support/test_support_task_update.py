"""Editing a support task is one service (support_task_update): who may change what, all or
nothing, and the API's PATCH and the page's reassignment both go through it."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from pse_crm.roles import Role
from pse_crm.tenancy import tenant_scope
from support.models import SupportTask
from support.services.support_tasks import support_task_update
from tests.factories import MembershipFactory
from tests.reps.factories import RepFactory
from tests.support.factories import SupportTaskFactory

Status = SupportTask.Status


@pytest.fixture
def rep(tenant):
    return RepFactory(partner__tenant=tenant)


@pytest.fixture
def task(rep, staff, manager):
    return SupportTaskFactory(rep=rep, assignee=staff, assigned_by=manager, title="Visit")


def _stored(tenant, task) -> SupportTask:
    with tenant_scope(tenant):
        return SupportTask.objects.get(pk=task.pk)


def _later(days: int = 10) -> dt.date:
    return timezone.localdate() + dt.timedelta(days=days)


# --- the service ------------------------------------------------------------------------


def test_the_assignee_writes_the_outcome_and_nothing_else(in_tenant, task, staff):
    support_task_update(
        tenant=in_tenant, task=task, by=staff, role=Role.STAFF, outcome_notes="Met the CIO"
    )
    assert _stored(in_tenant, task).outcome_notes == "Met the CIO"
    with pytest.raises(PermissionDenied, match=r"Only a manager may change: due_on, title\."):
        support_task_update(
            tenant=in_tenant,
            task=task,
            by=staff,
            role=Role.STAFF,
            outcome_notes="Changed",
            title="Renamed",
            due_on=_later(),
        )
    stored = _stored(in_tenant, task)
    assert (stored.outcome_notes, stored.title) == ("Met the CIO", "Visit")


def test_values_sent_unchanged_are_no_change(in_tenant, task, staff, rep):
    # A client sending the task back as it read it (PUT) is not changing the rep or title.
    support_task_update(
        tenant=in_tenant,
        task=task,
        by=staff,
        role=Role.STAFF,
        rep=rep,
        title="Visit",
        outcome_notes="ok",
    )
    assert _stored(in_tenant, task).outcome_notes == "ok"


def test_only_the_assignee_or_a_manager_may_edit(in_tenant, task, viewer):
    other_staff = MembershipFactory(tenant=in_tenant, role=Role.STAFF).user
    for user, role in ((other_staff, Role.STAFF), (viewer, Role.VIEWER), (None, None)):
        with pytest.raises(PermissionDenied):
            support_task_update(tenant=in_tenant, task=task, by=user, role=role, outcome_notes="x")
    assert _stored(in_tenant, task).outcome_notes == ""


def test_a_refused_reassignment_writes_none_of_the_details(in_tenant, task, manager, owner):
    SupportTask.objects.filter(pk=task.pk).update(status=Status.DONE)
    task.refresh_from_db()
    with pytest.raises(ValidationError) as refused:
        support_task_update(
            tenant=in_tenant,
            task=task,
            by=manager,
            role=Role.MANAGER,
            title="Renamed",
            assignee=owner,
        )
    assert refused.value.message_dict == {"assignee": ["A finished task cannot be reassigned."]}
    stored = _stored(in_tenant, task)
    assert (stored.title, stored.assignee_id) == ("Visit", task.assignee_id)


def test_a_refused_detail_writes_no_reassignment(in_tenant, task, manager, owner, staff):
    with pytest.raises(ValidationError) as refused:
        support_task_update(
            tenant=in_tenant,
            task=task,
            by=manager,
            role=Role.MANAGER,
            due_on=timezone.localdate() - dt.timedelta(days=30),
            assignee=owner,
        )
    assert set(refused.value.message_dict) == {"due_on"}
    assert _stored(in_tenant, task).assignee == staff


def test_a_manager_reassigns_and_reschedules_in_one_write(in_tenant, task, manager, owner):
    support_task_update(
        tenant=in_tenant,
        task=task,
        by=manager,
        role=Role.MANAGER,
        assignee=owner,
        due_on=_later(),
        title="New",
    )
    stored = _stored(in_tenant, task)
    assert (stored.assignee, stored.assigned_by, stored.due_on, stored.title) == (
        owner,
        manager,
        _later(),
        "New",
    )


def test_the_rep_never_changes(in_tenant, task, manager):
    other_rep = RepFactory(partner__tenant=in_tenant)
    with pytest.raises(ValidationError) as refused:
        support_task_update(
            tenant=in_tenant, task=task, by=manager, role=Role.MANAGER, rep=other_rep
        )
    assert list(refused.value.message_dict) == ["rep"]
    assert _stored(in_tenant, task).rep_id == task.rep_id


# --- the API and the page call it ------------------------------------------------------


def _api(user) -> APIClient:
    c = APIClient()
    c.force_login(user)
    return c


def test_api_patch_by_the_assignee_is_refused_whole(tenant, task, staff):
    response = _api(staff).patch(
        f"/api/v1/support-tasks/{task.pk}/",
        {"outcome_notes": "Met", "due_on": _later().isoformat()},
        format="json",
    )
    assert response.status_code == 403
    assert response.json() == {"detail": "Only a manager may change: due_on."}
    assert _stored(tenant, task).outcome_notes == ""


def test_api_patch_of_a_finished_task_is_a_400_by_field(tenant, task, manager, owner):
    with tenant_scope(tenant):
        SupportTask.objects.filter(pk=task.pk).update(status=Status.CANCELLED)
    response = _api(manager).patch(
        f"/api/v1/support-tasks/{task.pk}/",
        {"title": "Renamed", "assignee": owner.pk},
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {"assignee": ["A finished task cannot be reassigned."]}
    assert _stored(tenant, task).title == "Visit"


def test_page_reassignment_goes_through_the_same_rule(tenant, task, manager, owner, client):
    client.force_login(manager)
    url = reverse("task-assign", args=[task.pk])
    page = client.post(url, {"assignee": owner.pk}, follow=True)
    assert page.status_code == 200
    stored = _stored(tenant, task)
    assert (stored.assignee, stored.assigned_by) == (owner, manager)
    with tenant_scope(tenant):
        SupportTask.objects.filter(pk=task.pk).update(status=Status.DONE)
    page = client.post(url, {"assignee": task.assignee_id}, follow=True)
    assert "A finished task cannot be reassigned." in page.content.decode()
    assert _stored(tenant, task).assignee == owner
