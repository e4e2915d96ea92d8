"""The segmentation API: current segments, runs on demand, statistics, settings."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from pse_crm.tenancy import tenant_scope
from segmentation.models import SegmentationRun, SegmentationSettings
from segmentation.services.runs import segmentation_run
from tests.activities.factories import DealFactory, MaterialViewFactory
from tests.partners.factories import PartnerFactory
from tests.reps.factories import RepFactory

pytestmark = pytest.mark.django_db

SEGMENTS = "/api/v1/segments/"
RUNS = "/api/v1/segmentation/runs/"
PARTNERS = "/api/v1/segmentation/partners/"
SETTINGS = "/api/v1/segmentation/settings/"

# name: (views, won amount). The reps with views: 10, 8, 2, 1 -> median 5; two reps won
# (fewer than 20): any win is high. r5 has nothing at all.
PLAN = {
    "r1": (10, 1_000_000),  # performer
    "r2": (8, 0),  # motivated
    "r3": (1, 1_000_000),  # independent
    "r4": (2, 0),  # casual: active (two views, and a deal opened 30 days ago), below both
    "r5": (0, 0),  # dormant, inactive
}


def _build(tenant, *, partner_name="Partner P"):
    with tenant_scope(tenant):
        partner = PartnerFactory(tenant=tenant, name=partner_name)
        reps = {}
        for name, (views, won) in PLAN.items():
            rep = RepFactory(tenant=tenant, partner=partner, name=f"{partner_name} {name}")
            reps[name] = rep
            for i in range(views):
                MaterialViewFactory(
                    tenant=tenant, rep=rep, viewed_at=timezone.now() - dt.timedelta(hours=i + 1)
                )
            if won:
                DealFactory(
                    tenant=tenant,
                    rep=rep,
                    partner=partner,
                    amount=won,
                    is_closed=True,
                    is_won=True,
                    close_date=timezone.localdate() - dt.timedelta(days=3),
                )
        DealFactory(tenant=tenant, rep=reps["r4"], partner=partner, amount=50_000)
        run = segmentation_run(tenant=tenant)
        assert run.status == SegmentationRun.Status.SUCCEEDED, run.error
        return partner, reps, run


@pytest.fixture
def acme(tenant):
    return _build(tenant)


@pytest.fixture
def rival(other_tenant):
    return _build(other_tenant, partner_name="Rival R")


def _names(response):
    assert response.status_code == 200, response.content
    return {row["rep_name"].split()[-1] for row in response.json()["results"]}


def test_segments_list_the_current_run_only_for_the_tenant(acme, rival, manager_client):
    response = manager_client.get(SEGMENTS)
    rows = response.json()["results"]
    assert len(rows) == 5
    assert {row["partner_name"] for row in rows} == {"Partner P"}
    by_name = {row["rep_name"]: row for row in rows}
    r1 = by_name["Partner P r1"]
    assert r1["quadrant"] == "performer"
    assert r1["views"] == 10
    assert r1["tier"] == "top"
    assert by_name["Partner P r2"]["quadrant_label"].startswith("Motivated")


def test_segments_filters(acme, rival, manager_client):
    partner = acme[0]
    assert _names(manager_client.get(SEGMENTS, {"quadrant": "motivated"})) == {"r2"}
    assert _names(manager_client.get(SEGMENTS, {"quadrant": "independent"})) == {"r3"}
    assert _names(manager_client.get(SEGMENTS, {"tier": "top"})) == {"r1"}
    assert _names(manager_client.get(SEGMENTS, {"partner": partner.pk})) == set(PLAN)
    # Another tenant's partner id lists nothing.
    rival_partner = rival[0]
    assert _names(manager_client.get(SEGMENTS, {"partner": rival_partner.pk})) == set()
    bad = manager_client.get(SEGMENTS, {"quadrant": "royalty"})
    assert bad.status_code == 400


def test_segments_are_empty_before_the_first_run(tenant, rival, manager_client):
    response = manager_client.get(SEGMENTS)
    assert response.status_code == 200
    assert response.json()["results"] == []


def test_partner_figures(acme, rival, manager_client):
    response = manager_client.get(PARTNERS)
    assert response.status_code == 200
    rows = response.json()["results"]
    assert len(rows) == 1
    row = rows[0]
    assert row["partner_name"] == "Partner P"
    assert (row["reps"], row["active_reps"]) == (5, 4)
    assert row["activation_rate"] == pytest.approx(0.8)
    assert (row["performers"], row["motivated"]) == (1, 1)
    # Five reps: fewer than 10, so no statistics, but still labelled.
    assert row["correlation"]["n"] is None
    assert row["correlation"]["note"] == "Correlation, not causation."


def test_manager_requests_a_run_and_reads_its_status(
    acme, rival, manager_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client.post(RUNS, {}, content_type="application/json")
    assert response.status_code == 202, response.content
    run_id = response.json()["id"]
    assert response.json()["status"] == "pending"

    detail = manager_client.get(f"{RUNS}{run_id}/")
    assert detail.status_code == 200
    body = detail.json()
    assert body["status"] == "succeeded"
    assert body["is_current"] is True
    assert body["quadrant_counts"] == {
        "performer": 1,
        "motivated": 1,
        "independent": 1,
        "casual": 1,
        "dormant": 1,
    }
    # Each cut-off with the rule that chose it and the n behind it.
    assert (body["views_cutoff"], body["views_cutoff_rule"], body["views_cutoff_n"]) == (
        "5.0000",
        "median",
        4,
    )
    assert (body["results_cutoff_rule"], body["results_cutoff_n"]) == ("any", 2)
    assert body["cutoffs"] == [
        "Views cut-off 5: the median of the 4 reps who viewed anything (more is high)",
        "Results cut-off: any win (only 2 reps won)",
    ]
    assert body["correlation"]["note"] == "Correlation, not causation."
    assert body["settings_used"]["view_window_days"] == 90
    assert body["partner_statistics"] == []
    # The segments now come from the new run.
    rows = manager_client.get(SEGMENTS).json()["results"]
    assert {row["run"] for row in rows} == {run_id}
    assert {row["previous_quadrant"] for row in rows} == {
        "performer",
        "motivated",
        "independent",
        "casual",
        "dormant",
    }


def test_runs_list_and_isolation(acme, rival, manager_client):
    run = acme[2]
    rival_run = rival[2]
    listed = manager_client.get(RUNS).json()["results"]
    assert [row["id"] for row in listed] == [run.pk]
    assert manager_client.get(f"{RUNS}{rival_run.pk}/").status_code == 404
    assert manager_client.get(f"{RUNS}{rival_run.pk + 1000}/").status_code == 404


def test_another_tenants_member_gets_404(acme, rival, other_client):
    assert other_client.get(f"{RUNS}{acme[2].pk}/").status_code == 404
    rows = other_client.get(SEGMENTS).json()["results"]
    assert {row["partner_name"] for row in rows} == {"Rival R"}


@pytest.mark.parametrize("who", ["staff_client", "viewer_client", "api_client"])
def test_only_owners_and_managers_request_runs(acme, who, request):
    client = request.getfixturevalue(who)
    response = client.post(RUNS, {}, content_type="application/json")
    assert response.status_code == 403
    with tenant_scope(acme[2].tenant):
        assert SegmentationRun.objects.count() == 1


def test_integration_keys_do_not_read_segments(acme, api_client):
    assert api_client.get(SEGMENTS).status_code == 403


def test_anonymous_is_refused(acme, client):
    assert client.get(SEGMENTS).status_code == 401
    assert client.post(RUNS, {}).status_code == 401


def test_settings_defaults_then_edit(tenant, manager_client):
    response = manager_client.get(SETTINGS)
    assert response.status_code == 200
    assert response.json()["view_window_days"] == 90
    assert response.json()["min_reps_for_tiers"] == 5
    assert response.json()["quick_win_days"] == 60

    changed = manager_client.patch(
        SETTINGS, {"view_window_days": 30}, content_type="application/json"
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["view_window_days"] == 30
    with tenant_scope(tenant):
        assert SegmentationSettings.objects.get().view_window_days == 30

    invalid = manager_client.patch(
        SETTINGS, {"results_window_days": 5000}, content_type="application/json"
    )
    assert invalid.status_code == 400
    assert "results_window_days" in invalid.json()


def test_staff_read_but_do_not_edit_settings(tenant, staff_client):
    assert staff_client.get(SETTINGS).status_code == 200
    response = staff_client.patch(
        SETTINGS, {"view_window_days": 7}, content_type="application/json"
    )
    assert response.status_code == 403
    with tenant_scope(tenant):
        assert not SegmentationSettings.objects.exists()


def test_settings_edit_the_cut_off_floor_and_minimum(tenant, manager_client):
    body = manager_client.get(SETTINGS).json()
    assert (body["views_floor"], body["results_median_min_reps"]) == (3, 20)
    changed = manager_client.patch(
        SETTINGS, {"views_floor": 5, "results_median_min_reps": 8}, content_type="application/json"
    )
    assert changed.status_code == 200, changed.content
    with tenant_scope(tenant):
        saved = SegmentationSettings.objects.get()
        assert (saved.views_floor, saved.results_median_min_reps) == (5, 8)
    invalid = manager_client.patch(SETTINGS, {"views_floor": 0}, content_type="application/json")
    assert invalid.status_code == 400 and "views_floor" in invalid.json()


def test_partner_figures_carry_the_first_performer_playbook(acme, rival, tenant, manager_client):
    with tenant_scope(tenant):
        idle = PartnerFactory(tenant=tenant, name="No star")
        keen = RepFactory(tenant=tenant, partner=idle, name="keen")
        calm = RepFactory(tenant=tenant, partner=idle, name="calm")
        RepFactory(tenant=tenant, partner=idle, name="idle")
        for rep, views in ((keen, 6), (calm, 2)):
            for i in range(views):
                MaterialViewFactory(
                    tenant=tenant, rep=rep, viewed_at=timezone.now() - dt.timedelta(hours=i + 1)
                )
        run = segmentation_run(tenant=tenant)
    rows = {r["partner_name"]: r for r in manager_client.get(PARTNERS).json()["results"]}
    assert set(rows) == {"Partner P", "No star"}  # not the rival's
    assert rows["Partner P"]["needs_first_performer"] is False
    assert rows["Partner P"]["first_performer_candidates"] == []
    assert rows["No star"]["needs_first_performer"] is True
    assert rows["No star"]["first_performer_candidates"] == [keen.pk, calm.pk]
    assert rows["No star"]["first_flagged_on"] == str(run.as_of_date)
    assert rows["No star"]["days_to_first_performer"] is None
    # Partners of 3 and 5 reps: no tiers at 3, actual shares at 5.
    assert rows["No star"]["tier_shares"] is None
    assert rows["Partner P"]["tier_shares"] == {"top": 0.2, "middle": 0.6, "bottom": 0.2}
    flagged = manager_client.get(PARTNERS, {"needs_first_performer": "true"}).json()["results"]
    assert [r["partner_name"] for r in flagged] == ["No star"]
