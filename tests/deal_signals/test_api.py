"""``/api/v1/deal-signals/`` and ``/api/v1/deal-signal-rules/``: what clients see and may do."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from deal_signals.models import SignalKind, SignalRule
from pse_crm.tenancy import tenant_scope
from support.models import SupportTask
from tests.deal_signals.factories import signal_with_view

pytestmark = pytest.mark.django_db

SIGNALS = "/api/v1/deal-signals/"
RULES = "/api/v1/deal-signal-rules/"


def _signal(tenant, **kwargs):
    return signal_with_view(tenant, material_title="Price list", **kwargs)


def test_list_is_newest_first_and_never_shows_another_tenants_signals(
    tenant, other_tenant, manager_api
):
    older = _signal(tenant)
    newer = _signal(tenant, kind=SignalKind.LATE_STAGE)
    _signal(other_tenant)
    body = manager_api.get(SIGNALS).json()
    assert [r["id"] for r in body["results"]] == [newer.pk, older.pk]
    assert body["results"][0]["rep_name"] == newer.rep.name
    assert body["results"][0]["label"] == "Possible new deal"
    assert len(body["results"][0]["view_ids"]) == 1


def test_list_filters_by_kind_partner_and_status(tenant, manager_api):
    burst = _signal(tenant)
    late = _signal(tenant, kind=SignalKind.LATE_STAGE)
    dismissed = _signal(tenant, status="dismissed", dismiss_reason="no")
    ids = lambda q: [r["id"] for r in manager_api.get(SIGNALS + q).json()["results"]]  # noqa: E731
    assert ids("?kind=late_stage") == [late.pk]
    assert ids(f"?partner={burst.partner_id}") == [burst.pk]
    assert ids("?status=dismissed") == [dismissed.pk]
    assert manager_api.get(SIGNALS + "?kind=nonsense").status_code == 400


def test_another_tenants_signal_is_404_to_read_and_to_patch(other_tenant, manager_api):
    theirs = _signal(other_tenant)
    assert manager_api.get(f"{SIGNALS}{theirs.pk}/").status_code == 404
    response = manager_api.patch(
        f"{SIGNALS}{theirs.pk}/", {"status": "dismissed", "dismiss_reason": "x"}, format="json"
    )
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "new"


def test_dismissing_needs_a_reason(tenant, staff_api):
    signal = _signal(tenant)
    response = staff_api.patch(f"{SIGNALS}{signal.pk}/", {"status": "dismissed"}, format="json")
    assert response.status_code == 400
    assert "dismiss_reason" in response.json()
    response = staff_api.patch(
        f"{SIGNALS}{signal.pk}/",
        {"status": "dismissed", "dismiss_reason": "Existing customer renewal"},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["status"] == "dismissed"
    assert response.json()["dismiss_reason"] == "Existing customer renewal"
    # A handled signal cannot be handled again.
    again = staff_api.patch(
        f"{SIGNALS}{signal.pk}/", {"status": "dismissed", "dismiss_reason": "x"}, format="json"
    )
    assert again.status_code == 400


def test_acting_creates_a_linked_support_task_with_the_materials(tenant, staff, staff_api):
    signal = _signal(tenant)
    response = staff_api.patch(f"{SIGNALS}{signal.pk}/", {"status": "acted"}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "acted"
    with tenant_scope(tenant):
        task = SupportTask.objects.get(pk=body["support_task"])
        assert task.rep_id == signal.rep_id
        assert task.assignee == staff  # the partner has no owner: the one who acted
        assert "Price list" in task.description
        assert task.deal_signal.pk == signal.pk


def test_a_viewer_may_read_but_not_handle_signals(tenant, viewer_api):
    signal = _signal(tenant)
    assert viewer_api.get(SIGNALS).status_code == 200
    response = viewer_api.patch(
        f"{SIGNALS}{signal.pk}/", {"status": "dismissed", "dismiss_reason": "x"}, format="json"
    )
    assert response.status_code == 403


def test_anonymous_is_401(tenant):
    assert APIClient().get(SIGNALS).status_code == 401


# --- rules -----------------------------------------------------------------------------


def test_rules_list_every_kind_with_defaults_and_outcomes(tenant, manager_api):
    body = manager_api.get(RULES).json()
    by_kind = {r["kind"]: r for r in body}
    assert set(by_kind) == set(SignalKind.values)
    assert by_kind["burst"]["threshold"] == 3
    assert by_kind["burst"]["window_hours"] == 48
    assert by_kind["late_stage"]["material_kinds"] == ["price_sheet", "quote_template", "contract"]
    assert "causation" in by_kind["burst"]["outcomes"]["caution"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"threshold": 0}, "threshold"),
        ({"threshold": -2}, "threshold"),
        ({"window_hours": 721}, "window_hours"),
        ({"window_hours": 0}, "window_hours"),
        ({"material_kinds": ["brochure"]}, "material_kinds"),
    ],
)
def test_bad_rules_are_a_clear_400_and_change_nothing(tenant, manager_api, payload, field):
    response = manager_api.patch(f"{RULES}late_stage/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()
    with tenant_scope(tenant):
        rule = SignalRule.objects.get(kind="late_stage")
    assert rule.threshold == 1 and rule.window_hours == 48


def test_a_manager_changes_a_rule_and_a_staff_member_may_not(tenant, manager_api, staff_api):
    response = manager_api.patch(
        f"{RULES}burst/", {"threshold": 4, "window_hours": 24, "is_enabled": False}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["threshold"] == 4
    with tenant_scope(tenant):
        rule = SignalRule.objects.get(kind="burst")
    assert (rule.threshold, rule.window_hours, rule.is_enabled) == (4, 24, False)
    assert staff_api.patch(f"{RULES}burst/", {"threshold": 5}, format="json").status_code == 403


def test_rules_of_another_tenant_are_untouched(tenant, other_tenant, manager_api):
    manager_api.patch(f"{RULES}burst/", {"threshold": 7}, format="json")
    with tenant_scope(other_tenant):
        from deal_signals.services.signals import signal_rules_ensure

        assert signal_rules_ensure(tenant=other_tenant)["burst"].threshold == 3


def test_staff_may_act_but_only_a_manager_assigns_the_task_to_someone(
    tenant, manager, staff, staff_api, manager_api
):
    signal = _signal(tenant)
    refused = staff_api.patch(
        f"{SIGNALS}{signal.pk}/", {"status": "acted", "assignee": manager.pk}, format="json"
    )
    assert refused.status_code == 403
    with tenant_scope(tenant):
        assert not SupportTask.objects.exists()
        signal.refresh_from_db()
        assert signal.status == "new"
    accepted = manager_api.patch(
        f"{SIGNALS}{signal.pk}/", {"status": "acted", "assignee": staff.pk}, format="json"
    )
    assert accepted.status_code == 200, accepted.json()
    with tenant_scope(tenant):
        assert SupportTask.objects.get().assignee == staff
