"""Deal-signal pages: the inbox, a signal, one-click task, dismissal, rules, my settings."""

from __future__ import annotations

import pytest
from django.test import override_settings
from django.urls import reverse

from deal_signals.models import DealSignal, NotificationPreference, SignalRule
from pse_crm.tenancy import tenant_scope
from support.models import SupportTask
from tests.activities.factories import MaterialViewFactory
from tests.deal_signals.factories import signal_with_view
from tests.reps.factories import RepFactory

pytestmark = pytest.mark.django_db


def _signal(tenant, **kwargs):
    return signal_with_view(tenant, material_title="Quote template 2026", **kwargs)


def test_inbox_lists_newest_first_without_another_tenants_signals(
    tenant, other_tenant, manager_client
):
    older = _signal(tenant)
    newer = _signal(tenant, has_open_deal=True)
    theirs = _signal(other_tenant)
    page = manager_client.get(reverse("deal-signals")).content.decode()
    assert page.index(newer.rep.name) < page.index(older.rep.name)
    assert "Deal in progress" in page and "Possible new deal" in page
    assert theirs.rep.name not in page


def test_inbox_filters_by_kind_partner_and_status(tenant, manager_client):
    burst = _signal(tenant)
    late = _signal(tenant, kind="late_stage")
    gone = _signal(tenant, status="dismissed", dismiss_reason="dup")
    url = reverse("deal-signals")
    page = manager_client.get(url, {"kind": "late_stage"}).content.decode()
    assert late.rep.name in page and burst.rep.name not in page
    page = manager_client.get(url, {"partner": burst.partner_id}).content.decode()
    assert burst.rep.name in page and late.rep.name not in page
    page = manager_client.get(url, {"status": "dismissed"}).content.decode()
    assert gone.rep.name in page and burst.rep.name not in page


def test_a_signal_page_shows_its_materials(tenant, staff_client):
    signal = _signal(tenant)
    page = staff_client.get(reverse("deal-signal", args=[signal.pk])).content.decode()
    assert "Quote template 2026" in page
    assert "Create support task" in page


def test_one_click_creates_a_task_linked_to_the_signal(tenant, staff, staff_client):
    signal = _signal(tenant)
    response = staff_client.post(reverse("deal-signal-act", args=[signal.pk]), follow=True)
    assert response.status_code == 200
    signal.refresh_from_db()
    assert signal.status == DealSignal.Status.ACTED
    with tenant_scope(tenant):
        task = SupportTask.objects.get()
    assert signal.support_task_id == task.pk
    assert task.rep_id == signal.rep_id and task.assignee == staff
    assert "Quote template 2026" in task.description
    assert "Support task created" in response.content.decode()
    # A second click does not create a second task.
    staff_client.post(reverse("deal-signal-act", args=[signal.pk]))
    with tenant_scope(tenant):
        assert SupportTask.objects.count() == 1


def test_the_task_goes_to_the_partners_owner_when_they_may_work_it(tenant, manager, staff_client):
    signal = _signal(tenant)
    signal.partner.owner = manager
    signal.partner.save()
    staff_client.post(reverse("deal-signal-act", args=[signal.pk]))
    with tenant_scope(tenant):
        assert SupportTask.objects.get().assignee == manager


def test_dismissing_needs_a_reason(tenant, staff_client):
    signal = _signal(tenant)
    url = reverse("deal-signal-dismiss", args=[signal.pk])
    staff_client.post(url, {"reason": "  "})
    signal.refresh_from_db()
    assert signal.status == DealSignal.Status.NEW
    staff_client.post(url, {"reason": "Renewal we already know about"})
    signal.refresh_from_db()
    assert signal.status == DealSignal.Status.DISMISSED
    assert signal.dismiss_reason == "Renewal we already know about"


def test_isolation_another_tenants_signal_is_404(other_tenant, manager_client):
    theirs = _signal(other_tenant)
    assert manager_client.get(reverse("deal-signal", args=[theirs.pk])).status_code == 404
    for name in ("deal-signal-act", "deal-signal-dismiss"):
        response = manager_client.post(reverse(name, args=[theirs.pk]), {"reason": "x"})
        assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == DealSignal.Status.NEW


def test_isolation_a_viewer_reads_but_cannot_act(tenant, viewer_client):
    signal = _signal(tenant)
    assert viewer_client.get(reverse("deal-signals")).status_code == 200
    assert viewer_client.post(reverse("deal-signal-act", args=[signal.pk])).status_code == 403
    response = viewer_client.post(reverse("deal-signal-dismiss", args=[signal.pk]), {"reason": "x"})
    assert response.status_code == 403
    assert viewer_client.post(reverse("deal-signal-rules"), {"kind": "burst"}).status_code == 403


@pytest.mark.parametrize("name", ["deal-signals", "deal-signal-rules", "deal-signal-notifications"])
def test_isolation_anonymous_goes_to_login(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_a_manager_edits_a_rule_and_bad_values_are_refused(tenant, manager_client):
    url = reverse("deal-signal-rules")
    bad = {
        "kind": "burst",
        "burst-is_enabled": "on",
        "burst-threshold": "0",
        "burst-window_hours": "48",
        "burst-expiry_days": "14",
    }
    response = manager_client.post(url, bad)
    assert response.status_code == 400
    assert "At least one view is needed." in response.content.decode()
    too_long = {**bad, "burst-threshold": "3", "burst-window_hours": "721"}
    assert manager_client.post(url, too_long).status_code == 400
    good = {**bad, "burst-threshold": "4", "burst-window_hours": "24"}
    assert manager_client.post(url, good).status_code == 302
    with tenant_scope(tenant):
        rule = SignalRule.objects.get(kind="burst")
    assert (rule.threshold, rule.window_hours, rule.is_enabled) == (4, 24, True)
    page = manager_client.get(url).content.decode()
    assert "Correlation, not causation" in page


def test_my_notification_settings_are_saved(tenant, staff, staff_client):
    url = reverse("deal-signal-notifications")
    response = staff_client.post(url, {"email": "digest", "on_duty": "on"})
    assert response.status_code == 302
    with tenant_scope(tenant):
        pref = NotificationPreference.objects.get(user=staff)
    assert (pref.email, pref.on_duty) == ("digest", True)


@override_settings(
    TEMPLATES=[
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "DIRS": [__import__("django.conf").conf.settings.BASE_DIR / "templates"],
            "APP_DIRS": True,
            "OPTIONS": {
                "context_processors": [
                    "django.template.context_processors.request",
                    "django.contrib.auth.context_processors.auth",
                    "django.contrib.messages.context_processors.messages",
                    "pse_crm.context_processors.tenancy",
                    "deal_signals.context_processors.deal_signals",
                ]
            },
        }
    ]
)
def test_the_navigation_counts_open_signals_of_this_tenant_only(
    tenant, other_tenant, manager_client
):
    _signal(tenant)
    _signal(tenant)
    _signal(tenant, status="dismissed", dismiss_reason="x")
    _signal(other_tenant)
    page = manager_client.get(reverse("deal-signals")).content.decode()
    assert '<span class="nav-count">2</span>' in page


def test_the_inbox_costs_the_same_queries_for_3_or_12_signals(tenant, manager_client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert manager_client.get(reverse("deal-signals")).status_code == 200
        return len(ctx.captured_queries)

    for _ in range(3):
        _signal(tenant)
    queries()  # warm up (session, caches)
    few = queries()
    for _ in range(9):
        _signal(tenant)
    assert queries() == few


def test_a_manager_re_evaluates_recent_views_after_loosening_a_rule(
    tenant, other_tenant, manager_client, django_capture_on_commit_callbacks
):
    import datetime as dt

    from django.utils import timezone

    from deal_signals.services.signals import signal_rules_ensure

    rep = RepFactory(partner__tenant=tenant)
    theirs = RepFactory(partner__tenant=other_tenant)
    for r in (rep, theirs):
        for hours in (2, 1):
            MaterialViewFactory(rep=r, viewed_at=timezone.now() - dt.timedelta(hours=hours))
    with tenant_scope(tenant):
        for rule in signal_rules_ensure(tenant=tenant).values():
            rule.is_enabled = rule.kind == "burst"
            rule.threshold = 2
            rule.save()
    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client.post(reverse("deal-signal-reevaluate"), follow=True)
    assert "The recent views of 1 reps are being evaluated" in response.content.decode()
    with tenant_scope(tenant):
        assert list(DealSignal.objects.values_list("rep_id", flat=True)) == [rep.pk]
    with tenant_scope(other_tenant):
        assert not DealSignal.objects.exists()


def test_a_staff_member_may_not_re_evaluate(staff_client):
    assert staff_client.post(reverse("deal-signal-reevaluate")).status_code == 403
