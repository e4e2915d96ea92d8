"""The main journeys in a real headless Chromium: log in, read the dashboard's scatter,
filter keymen, assign a task from a suggestion, log a hearing, switch to Japanese."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from knowhow.models import Hearing
from pse_crm.roles import Role
from pse_crm.tenancy import tenant_scope
from support.models import SupportTask
from support.services.support_tasks import support_task_create, support_task_transition
from tests.browser.conftest import PASSWORD, log_in
from tests.factories import MembershipFactory, TenantFactory
from tests.web.test_views import build

pytestmark = pytest.mark.django_db(transaction=True)

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def world():
    tenant = TenantFactory(slug="acme", name="Acme Software")
    manager = MembershipFactory(
        tenant=tenant,
        role=Role.MANAGER,
        user__email="manager@acme.example",
        user__password=PASSWORD,
    ).user
    rival = TenantFactory(slug="rival", name="Rival Systems")
    rival_manager = MembershipFactory(tenant=rival, role=Role.MANAGER).user
    build(rival, prefix="Rival", reps=3, assignee=rival_manager)
    data = build(tenant, prefix="Acme", reps=6, assignee=manager)
    with tenant_scope(tenant):
        # Free the motivated reps again, so that they are suggested.
        SupportTask.objects.all().update(status=SupportTask.Status.CANCELLED)
    data.update(tenant=tenant, manager=manager)
    return data


def test_dashboard_scatter_draws_one_point_per_rep(page, world):
    log_in(page, "manager@acme.example")
    canvas = page.locator("canvas#scatter")
    page.locator("canvas#scatter[data-rendered='1']").wait_for()
    assert canvas.get_attribute("data-points") == str(len(world["reps"]))
    drawn = page.evaluate(
        "Chart.getChart(document.querySelector('canvas#scatter'))"
        ".getSortedVisibleDatasetMetas().reduce((n, m) => n + m.data.length, 0)"
    )
    assert drawn == len(world["reps"])
    assert "Correlation, not causation." in page.inner_text("[data-testid=correlation]")
    assert "Rival" not in page.content()


def test_filter_the_keymen_table(page, world):
    log_in(page, "manager@acme.example")
    page.goto(reverse("keymen"))
    page.select_option("#id_quadrant", "motivated")
    page.click("[data-testid=keymen-filters] button[type=submit]")
    page.wait_for_url("**quadrant=motivated**")
    quadrants = page.locator("table tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.quadrant)"
    )
    with tenant_scope(world["tenant"]):
        expected = world["run"].rep_segments.filter(quadrant="motivated").count()
    assert quadrants and set(quadrants) == {"motivated"} and len(quadrants) == expected


def test_assign_a_task_from_a_suggestion(page, world):
    log_in(page, "manager@acme.example")
    page.goto(reverse("task-suggestions"))
    first = page.locator("input[name=reps]").first
    rep_id = int(first.get_attribute("value"))
    first.check()
    page.select_option("#id_kind", "deal_strategy")
    page.click("[data-testid=suggestions-form] button[type=submit]")
    page.wait_for_url("**/tasks/board/")
    assert "1 task assigned" in page.inner_text(".messages")
    with tenant_scope(world["tenant"]):
        task = SupportTask.objects.get(rep_id=rep_id, status="open")
    assert task.kind == "deal_strategy" and task.assignee == world["manager"]
    assert page.locator(f"[data-status=open] a[href='/tasks/{task.pk}/']").count() == 1


def test_log_a_hearing(page, world):
    log_in(page, "manager@acme.example")
    rep = world["reps"][0]
    page.goto(reverse("rep-detail", args=[rep.pk]))
    page.click("text=Log a hearing")
    page.fill("#id_sales_approach", "Brings the renewal calendar to every meeting.")
    page.fill("#id_tags", "renewal, 更新")
    page.click("[data-testid=hearing-form] button[type=submit]")
    page.wait_for_url("**/hearings/*/")
    assert "Brings the renewal calendar" in page.content()
    with tenant_scope(world["tenant"]):
        hearing = Hearing.objects.get(sales_approach__startswith="Brings the renewal")
    assert hearing.rep == rep and hearing.tags == ["renewal", "更新"]


def test_switch_to_japanese(page, world):
    log_in(page, "manager@acme.example")
    page.click("[data-testid=lang-ja]")
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "ja"
    nav = page.inner_text("nav.sidenav")
    assert "ダッシュボード" in nav and "キーマン" in nav
    page.click("[data-testid=lang-en]")
    page.wait_for_load_state()
    assert "Dashboard" in page.inner_text("nav.sidenav")


def test_screenshots_of_the_main_pages(page, world, tmp_path):
    """Saved to docs/screenshots/ with PSE_SCREENSHOTS=1 (the README shows them)."""
    out = SCREENSHOTS if os.environ.get("PSE_SCREENSHOTS") == "1" else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    # A board with work in every column.
    manager, Status = world["manager"], SupportTask.Status
    with tenant_scope(world["tenant"]):
        for i, rep in enumerate(world["reps"][:8]):
            task = support_task_create(
                tenant=world["tenant"],
                rep=rep,
                kind=SupportTask.Kind.values[i % len(SupportTask.Kind.values)],
                assignee=manager,
                assigned_by=manager,
                due_on=timezone.localdate() + dt.timedelta(days=3 + i),
            )
            for to in [Status.IN_PROGRESS, Status.DONE][: i % 3]:
                support_task_transition(task=task, to_status=to, by=manager)
    log_in(page, "manager@acme.example")
    partner, rep = world["partners"][0], world["reps"][0]
    shots = {
        "dashboard": reverse("dashboard"),
        "keymen": reverse("keymen"),
        "partners": reverse("partner-list"),
        "partner": reverse("partner-detail", args=[partner.pk]),
        "rep": reverse("rep-detail", args=[rep.pk]),
        "task-board": reverse("task-board"),
        "suggestions": reverse("task-suggestions"),
        "hearings": reverse("hearing-list"),
        "know-how": reverse("knowhow-detail", args=[world["know_how"].pk]),
        "quick-wins": reverse("quickwins"),
        "segmentation-runs": reverse("run-list"),
    }
    for name, url in shots.items():
        page.goto(url)
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(out / f"{name}.png"), full_page=True)
        assert (out / f"{name}.png").stat().st_size > 10_000
    page.click("[data-testid=lang-ja]")
    page.wait_for_load_state("networkidle")
    page.goto(reverse("dashboard"))
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(out / "dashboard-ja.png"), full_page=True)
    # A tablet in portrait: the navigation becomes a strip, the grids one column.
    page.set_viewport_size({"width": 820, "height": 1180})
    page.goto(reverse("keymen"))
    page.wait_for_load_state("networkidle")
    assert page.evaluate("document.documentElement.scrollWidth") <= 820
    page.screenshot(path=str(out / "keymen-tablet-ja.png"), full_page=True)


def test_a_running_segmentation_shows_its_progress_until_done(page, world):
    """The runs page polls a pending run and reloads by itself when the worker is done."""
    from segmentation.models import SegmentationRun

    with tenant_scope(world["tenant"]):
        run = SegmentationRun.objects.create(
            tenant=world["tenant"],
            as_of=timezone.now(),
            as_of_date=timezone.localdate(),
            status=SegmentationRun.Status.RUNNING,
            started_at=timezone.now(),
        )
    log_in(page, "manager@acme.example")
    page.goto(reverse("run-list"))
    progress = page.locator("[data-testid=run-progress]")
    assert progress.count() == 1
    assert page.locator("[data-testid=recompute]").is_disabled()
    assert page.locator("[data-testid=run-progress] .spinner").count() == 1
    # The polling keeps the elapsed time going (no made-up percentage).
    # Polled from here: a string predicate would be evaluated in the page, which the CSP
    # (no 'unsafe-eval') refuses.
    deadline = time.monotonic() + 20
    while float(progress.get_attribute("data-elapsed") or 0) < 2:
        assert time.monotonic() < deadline, "the elapsed time did not advance"
        page.wait_for_timeout(250)
    elapsed, text = progress.evaluate(
        "box => [box.dataset.elapsed, box.querySelector('[data-progress-label]').textContent]"
    )
    assert elapsed in text
    # The worker finishes: the page notices within a few seconds and reloads.
    with tenant_scope(world["tenant"]):
        SegmentationRun.objects.filter(pk=run.pk).update(
            status=SegmentationRun.Status.FAILED, finished_at=timezone.now(), error="test"
        )
    page.locator("[data-testid=run-progress]").wait_for(state="detached")
    assert page.locator("[data-testid=recompute]").is_enabled()
