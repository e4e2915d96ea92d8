"""The method's pages: status, roles, tenant isolation and query counts.

Every page is rendered with another tenant's rows present ("Rival …") that must not
appear, and with one rep and with many reps: the query count must be the same.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from knowhow.models import Hearing, KnowHowShare
from knowhow.services import hearing_create, know_how_create, know_how_share
from momentum.models import MomentumSnapshot
from momentum.services import momentum_backfill
from pse_crm.roles import Role
from pse_crm.tenancy import tenant_scope
from segmentation.models import Quadrant, SegmentationRun
from segmentation.services.runs import segmentation_run
from support.models import SupportTask
from support.services.support_tasks import support_task_create, support_task_transition
from tests.activities.factories import DealFactory, MaterialFactory, MaterialViewFactory
from tests.factories import MembershipFactory
from tests.partners.factories import PartnerFactory
from tests.reps.factories import RepFactory

pytestmark = pytest.mark.django_db


def build(tenant, *, prefix: str, reps: int, assignee) -> dict:
    """A small world: partners, reps with views and won deals, a run, tasks, hearings,
    know-how and momentum. ``reps`` per partner, two partners."""
    now = timezone.now()
    with tenant_scope(tenant):
        material = MaterialFactory(tenant=tenant, title=f"{prefix} deck")
        partners, all_reps = [], []
        for p in range(2):
            partner = PartnerFactory(tenant=tenant, name=f"{prefix} Partner {p}")
            partners.append(partner)
            for i in range(reps):
                rep = RepFactory(partner=partner, name=f"{prefix} Rep {p}-{i}")
                all_reps.append(rep)
                for v in range(1 + (i % 4) * 3):
                    MaterialViewFactory(
                        rep=rep, material=material, viewed_at=now - dt.timedelta(days=2 + v)
                    )
                if i % 2 == 0:
                    DealFactory(
                        rep=rep,
                        is_closed=True,
                        is_won=True,
                        close_date=(now - dt.timedelta(days=10)).date(),
                        amount=1_000_000 * (i + 1),
                    )
        run = segmentation_run(tenant=tenant, as_of=now)
        assert run.status == SegmentationRun.Status.SUCCEEDED, run.error
        tasks = []
        for rep in all_reps:
            task = support_task_create(
                tenant=tenant,
                rep=rep,
                kind=SupportTask.Kind.ACCOMPANY,
                assignee=assignee,
                assigned_by=assignee,
                due_on=timezone.localdate() + dt.timedelta(days=7),
                title=f"{prefix} task {rep.name}",
            )
            support_task_transition(
                task=task, to_status=SupportTask.Status.IN_PROGRESS, by=assignee
            )
            tasks.append(task)
        hearings = [
            hearing_create(
                tenant=tenant,
                rep=rep,
                held_by=assignee,
                held_on=timezone.localdate(),
                sales_approach=f"{prefix} approach",
                tags=[f"{prefix}-tag"],
            )
            for rep in all_reps
        ]
        know_how = know_how_create(
            tenant=tenant,
            title=f"{prefix} know-how",
            body="Open with renewals.",
            hearings=hearings,
            created_by=assignee,
        )
        for partner in partners:
            know_how_share(tenant=tenant, know_how=know_how, shared_by=assignee, partner=partner)
        momentum_backfill(tenant=tenant, weeks=9)
    return {
        "partners": partners,
        "reps": all_reps,
        "run": run,
        "tasks": tasks,
        "hearings": hearings,
        "know_how": know_how,
    }


@pytest.fixture
def rival(other_tenant, other_manager):
    return build(other_tenant, prefix="Rival", reps=3, assignee=other_manager)


def _world(tenant, manager, reps):
    return build(tenant, prefix="Acme", reps=reps, assignee=manager)


def pages(world) -> list[str]:
    partner, rep = world["partners"][0], world["reps"][0]
    return [
        reverse("dashboard"),
        reverse("keymen"),
        reverse("keymen") + "?sort=views&page=1",
        reverse("partner-list"),
        reverse("partner-detail", args=[partner.pk]),
        reverse("rep-detail", args=[rep.pk]),
        reverse("task-list"),
        reverse("task-list") + "?all=1",
        reverse("task-board"),
        reverse("task-suggestions"),
        reverse("task-detail", args=[world["tasks"][0].pk]),
        reverse("hearing-list"),
        reverse("hearing-detail", args=[world["hearings"][0].pk]),
        reverse("knowhow-list"),
        reverse("knowhow-detail", args=[world["know_how"].pk]),
        reverse("quickwins"),
        reverse("run-list"),
        reverse("chart-scatter"),
        reverse("chart-momentum"),
        reverse("chart-partner-scatter", args=[partner.pk]),
        reverse("chart-partner-momentum", args=[partner.pk]),
        reverse("chart-rep-views", args=[rep.pk]),
    ]


def test_every_page_renders_for_a_manager_and_hides_the_other_tenant(
    manager_client, tenant, manager, rival
):
    world = _world(tenant, manager, reps=3)
    for url in pages(world):
        response = manager_client.get(url)
        assert response.status_code == 200, url
        assert "Rival" not in response.content.decode(), url
    for url in [reverse("keymen-export", args=["csv"])]:
        body = b"".join(manager_client.get(url).streaming_content).decode("utf-8-sig")
        assert "Acme Rep" in body and "Rival" not in body


def test_query_count_does_not_grow_with_rows(client, tenant, manager, other_tenant):
    """The same pages with one rep per partner and with eight cost the same queries."""
    small_tenant = tenant
    big_tenant = other_tenant
    small_manager = manager
    big_manager = MembershipFactory(tenant=big_tenant, role=Role.MANAGER).user
    small = build(small_tenant, prefix="Small", reps=1, assignee=small_manager)
    big = build(big_tenant, prefix="Big", reps=8, assignee=big_manager)
    counts = {}
    for name, world, user in (("small", small, small_manager), ("big", big, big_manager)):
        client.force_login(user)
        for i, url in enumerate(pages(world)):
            with CaptureQueriesContext(connection) as ctx:
                assert client.get(url).status_code == 200, url
            counts[(name, i)] = len(ctx.captured_queries)
    for i, url in enumerate(pages(small)):
        assert counts[("big", i)] <= counts[("small", i)], (
            url,
            counts[("small", i)],
            counts[("big", i)],
        )


def test_dashboard_shows_kpis_quadrants_and_the_honest_correlation(manager_client, tenant, manager):
    world = _world(tenant, manager, reps=5)
    html = manager_client.get(reverse("dashboard")).content.decode()
    run = world["run"]
    assert "Keyman ① performers" in html
    assert "Correlation, not causation." in html
    assert f"n = {run.correlation_n}" in html
    assert 'data-url="/charts/scatter/"' in html
    for quadrant, count in run.quadrant_counts.items():
        assert f'href="/keymen/?quadrant={quadrant}"><div class="n">{count}</div>' in html


def test_scatter_json_has_one_point_per_rep_by_quadrant_and_thresholds(
    manager_client, tenant, manager, rival
):
    world = _world(tenant, manager, reps=4)
    data = manager_client.get(reverse("chart-scatter")).json()
    assert sum(len(ds["data"]) for ds in data["datasets"]) == len(world["reps"])
    assert [ds["key"] for ds in data["datasets"]] == list(Quadrant.values)
    assert data["thresholds"]["x"] == float(world["run"].views_cutoff)
    assert "view" not in data
    one = manager_client.get(reverse("chart-partner-scatter", args=[world["partners"][0].pk]))
    assert sum(len(ds["data"]) for ds in one.json()["datasets"]) == 4


def test_keymen_filters_by_quadrant_tier_partner_and_search(manager_client, tenant, manager, rival):
    world = _world(tenant, manager, reps=5)
    with tenant_scope(tenant):
        motivated = {
            s.rep.name
            for s in world["run"].rep_segments.filter(quadrant="motivated").select_related("rep")
        }
        other = {
            s.rep.name
            for s in world["run"].rep_segments.exclude(quadrant="motivated").select_related("rep")
        }
    html = manager_client.get(reverse("keymen"), {"quadrant": "motivated"}).content.decode()
    assert motivated and all(name in html for name in motivated)
    assert not any(f">{name}<" in html for name in other)
    partner = world["partners"][1]
    html = manager_client.get(reverse("keymen"), {"partner": partner.pk}).content.decode()
    assert "Acme Rep 1-0" in html and "Acme Rep 0-0" not in html
    html = manager_client.get(reverse("keymen"), {"q": "Rep 0-3"}).content.decode()
    assert "Acme Rep 0-3" in html and "Acme Rep 0-1" not in html
    # Another tenant's partner id is not a valid filter: it narrows nothing, shows nothing.
    rival_partner = rival["partners"][0].pk
    html = manager_client.get(reverse("keymen"), {"partner": rival_partner}).content.decode()
    assert "Rival" not in html


def test_keymen_pages_without_counting_and_sorts(manager_client, tenant, manager, monkeypatch):
    monkeypatch.setattr("segmentation.views.keymen.PER_PAGE", 3)
    _world(tenant, manager, reps=4)
    with CaptureQueriesContext(connection) as ctx:
        first = manager_client.get(reverse("keymen")).content.decode()
    # No statement counts the segments for a page count: the one that counts them (the
    # rows numbered before the page, in the pass that reads its ids by position: a ranked
    # run, unfiltered) also reads the page's ids.
    counts = [q["sql"] for q in ctx if "COUNT(" in q["sql"].upper() and "repsegment" in q["sql"]]
    assert all("ARRAY_AGG" in sql for sql in counts)
    assert 'rel="next"' in first
    last = manager_client.get(reverse("keymen"), {"page": 3}).content.decode()
    assert 'rel="next"' not in last and 'rel="prev"' in last
    by_views = manager_client.get(reverse("keymen"), {"sort": "views"}).content.decode()
    # Most views first: reps *-3 viewed most, reps *-0 least; three to a page.
    assert "Acme Rep 0-3" in by_views and "Acme Rep 0-0" not in by_views
    fewest = manager_client.get(reverse("keymen"), {"sort": "-views"}).content.decode()
    assert "Acme Rep 0-0" in fewest and "Acme Rep 0-3" not in fewest


def test_keymen_export_csv_and_excel_follow_the_filters(manager_client, tenant, manager, rival):
    world = _world(tenant, manager, reps=3)
    response = manager_client.get(reverse("keymen-export", args=["csv"]), {"quadrant": "dormant"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    with tenant_scope(tenant):
        dormant = world["run"].rep_segments.filter(quadrant="dormant").count()
    assert rows[0][0] == "Rep" and len(rows) == 1 + dormant
    response = manager_client.get(reverse("keymen-export", args=["xlsx"]))
    sheet = load_workbook(io.BytesIO(response.content)).active
    names = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert sorted(names) == sorted(r.name for r in world["reps"])


def test_viewer_sees_no_assign_button_and_the_server_refuses(viewer_client, tenant, manager):
    world = _world(tenant, manager, reps=2)
    rep = world["reps"][0]
    html = viewer_client.get(reverse("keymen")).content.decode()
    assert 'data-testid="assign"' not in html and "Log hearing" not in html
    html = viewer_client.get(reverse("rep-detail", args=[rep.pk])).content.decode()
    assert 'data-testid="assign-task"' not in html
    assert viewer_client.get(reverse("task-create") + f"?rep={rep.pk}").status_code == 403
    assert viewer_client.post(reverse("task-create"), {"rep": rep.pk}).status_code == 403
    assert viewer_client.get(reverse("hearing-create") + f"?rep={rep.pk}").status_code == 403
    assert viewer_client.post(reverse("run-recompute")).status_code == 403
    assert viewer_client.get(reverse("task-board")).status_code == 403
    task = world["tasks"][0]
    assert (
        viewer_client.post(
            reverse("task-transition", args=[task.pk]), {"to_status": "done"}
        ).status_code
        == 403
    )


def test_staff_can_log_a_hearing_but_not_assign(staff_client, tenant, manager):
    world = _world(tenant, manager, reps=1)
    rep = world["reps"][0]
    html = staff_client.get(reverse("keymen")).content.decode()
    assert "Log hearing" in html and 'data-testid="assign"' not in html
    assert staff_client.get(reverse("task-create") + f"?rep={rep.pk}").status_code == 403
    response = staff_client.post(
        reverse("hearing-create"),
        {
            "rep": rep.pk,
            "held_on": timezone.localdate().isoformat(),
            "sales_approach": "Demo first",
            "tags": "demo, 紹介",
        },
    )
    assert response.status_code == 302
    with tenant_scope(tenant):
        hearing = Hearing.objects.get(sales_approach="Demo first")
    assert hearing.tags == ["demo", "紹介"]
    assert "Demo first" in staff_client.get(response["Location"]).content.decode()


def test_hearing_form_shows_errors_next_to_the_field(staff_client, tenant, manager):
    rep = _world(tenant, manager, reps=1)["reps"][0]
    future = (timezone.localdate() + dt.timedelta(days=5)).isoformat()
    response = staff_client.post(reverse("hearing-create"), {"rep": rep.pk, "held_on": future})
    assert response.status_code == 200
    html = response.content.decode()
    field = html[html.index('name="held_on"') :]
    assert field.index("A hearing cannot be in the future.") < field.index("</div>")


def test_manager_assigns_a_task_and_staff_moves_it(client, tenant, manager, staff):
    world = _world(tenant, manager, reps=1)
    rep = world["reps"][0]
    client.force_login(manager)
    due = (timezone.localdate() + dt.timedelta(days=10)).isoformat()
    response = client.post(
        reverse("task-create"),
        {
            "rep": rep.pk,
            "kind": "proposal_review",
            "assignee": staff.pk,
            "due_on": due,
            "title": "Review the proposal",
        },
    )
    assert response.status_code == 302
    with tenant_scope(tenant):
        task = SupportTask.objects.get(title="Review the proposal")
    assert task.assignee == staff
    client.force_login(staff)
    mine = client.get(reverse("task-list")).content.decode()
    assert "Review the proposal" in mine
    client.post(reverse("task-transition", args=[task.pk]), {"to_status": "in_progress"})
    client.post(reverse("task-comment", args=[task.pk]), {"body": "Met the customer."})
    html = client.get(reverse("task-detail", args=[task.pk])).content.decode()
    assert "Met the customer." in html and 'data-testid="to-done"' in html
    task.refresh_from_db()
    assert task.status == SupportTask.Status.IN_PROGRESS


def test_tasks_from_suggestions(manager_client, tenant, manager, staff):
    world = _world(tenant, manager, reps=4)
    with tenant_scope(tenant):
        SupportTask.objects.all().update(status=SupportTask.Status.CANCELLED)
        motivated = list(
            world["run"].rep_segments.filter(quadrant="motivated").values_list("rep_id", flat=True)
        )
    assert motivated
    html = manager_client.get(reverse("task-suggestions")).content.decode()
    assert all(f'value="{pk}"' in html for pk in motivated)
    due = (timezone.localdate() + dt.timedelta(days=10)).isoformat()
    response = manager_client.post(
        reverse("task-suggestions"),
        {"reps": motivated, "kind": "accompany", "assignee": staff.pk, "due_on": due},
    )
    assert response.status_code == 302
    with tenant_scope(tenant):
        assert SupportTask.objects.filter(
            rep_id__in=motivated, status="open", assignee=staff
        ).count() == len(motivated)


def test_other_tenants_objects_answer_404(manager_client, tenant, manager, rival):
    _world(tenant, manager, reps=1)
    for url in (
        reverse("partner-detail", args=[rival["partners"][0].pk]),
        reverse("rep-detail", args=[rival["reps"][0].pk]),
        reverse("task-detail", args=[rival["tasks"][0].pk]),
        reverse("hearing-detail", args=[rival["hearings"][0].pk]),
        reverse("knowhow-detail", args=[rival["know_how"].pk]),
        reverse("chart-rep-views", args=[rival["reps"][0].pk]),
        reverse("chart-partner-scatter", args=[rival["partners"][0].pk]),
        reverse("run-status", args=[rival["run"].pk]),
    ):
        assert manager_client.get(url).status_code == 404, url


def test_anonymous_is_sent_to_the_login_page(client):
    for name in ("dashboard", "keymen", "partner-list", "task-list", "quickwins", "run-list"):
        response = client.get(reverse(name))
        assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_recompute_runs_the_task_and_reports_progress(
    manager_client, tenant, manager, django_capture_on_commit_callbacks
):
    _world(tenant, manager, reps=2)
    before = manager_client.get(reverse("run-list")).content.decode().count("badge s-succeeded")
    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client.post(reverse("run-recompute"))
    assert response.status_code == 302
    with tenant_scope(tenant):
        newest = SegmentationRun.objects.order_by("-pk").first()
    assert newest.requested_by == manager
    status = manager_client.get(reverse("run-status", args=[newest.pk])).json()
    assert status["finished"] and status["status"] == "succeeded" and "percent" not in status
    html = manager_client.get(reverse("run-list")).content.decode()
    assert html.count("badge s-succeeded") == before + 1


def test_share_know_how_with_a_rep(staff_client, tenant, manager):
    world = _world(tenant, manager, reps=1)
    rep = world["reps"][0]
    url = reverse("knowhow-detail", args=[world["know_how"].pk])
    response = staff_client.post(url, {"rep_email": rep.email})
    assert response.status_code == 302
    with tenant_scope(tenant):
        assert KnowHowShare.objects.filter(rep=rep).exists()
    response = staff_client.post(url, {"rep_email": "nobody@nowhere.example"})
    assert "No rep of this tenant has this email." in response.content.decode()


def test_momentum_chart_has_active_reps_and_wins(manager_client, tenant, manager):
    world = _world(tenant, manager, reps=2)
    data = manager_client.get(reverse("chart-momentum")).json()
    with tenant_scope(tenant):
        weeks = MomentumSnapshot.objects.filter(partner__isnull=True).count()
    assert len(data["labels"]) == weeks and len(data["datasets"]) == 2
    data = manager_client.get(
        reverse("chart-partner-momentum", args=[world["partners"][0].pk])
    ).json()
    assert data["datasets"][0]["label"] == "Active reps"


def test_japanese_labels_and_locale_numbers(manager_client, tenant, manager):
    _world(tenant, manager, reps=1)
    html = manager_client.get(reverse("dashboard"), HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert '<html lang="ja">' in html
    assert "ダッシュボード" in html and "相関は因果ではありません" in html


def test_segmentation_settings_are_for_owners_and_errors_sit_by_the_field(
    owner_client, manager, tenant, other_tenant
):
    from django.test import Client

    from segmentation.models import SegmentationSettings

    manager_client = Client()
    manager_client.force_login(manager)

    with tenant_scope(other_tenant):
        SegmentationSettings.objects.create(tenant=other_tenant, quick_win_days=7)
    url = reverse("settings-segmentation")
    # Owners and managers tune the segmentation (issue 5); staff and viewers may not.
    manager_page = manager_client.get(url).content.decode()
    assert "API keys" not in manager_page  # the owners' tabs stay hidden from managers
    staff_client = Client()
    staff_client.force_login(MembershipFactory(tenant=tenant, role="staff").user)
    assert staff_client.get(url).status_code == 403
    html = owner_client.get(url).content.decode()
    assert 'name="quick_win_days" value="60"' in html
    # The cut-offs' floor and minimum are edited like the others.
    assert 'name="views_floor" value="3"' in html
    assert 'name="results_median_min_reps" value="20"' in html
    data = {
        "view_window_days": 30,
        "results_window_days": 180,
        "results_measure": "won_deals",
        "views_high_rule": "median",
        "views_threshold": 10,
        "views_floor": 4,
        "results_median_min_reps": 12,
        "results_high_rule": "threshold",
        "results_threshold": "1.5",
        "tier_measure": "score",
        "min_reps_for_tiers": 5,
        "quick_win_days": 45,
        "run_retention_days": 180,
    }
    html = owner_client.post(url, data).content.decode()
    field = html[html.index('name="results_threshold"') :]
    assert field.index("the threshold is a whole number") < field.index("</div>")
    assert owner_client.post(url, {**data, "results_threshold": "2"}).status_code == 302
    with tenant_scope(tenant):
        saved = SegmentationSettings.objects.get()
    assert (saved.quick_win_days, saved.view_window_days) == (45, 30)
    assert (saved.views_floor, saved.results_median_min_reps) == (4, 12)
    with tenant_scope(other_tenant):
        assert SegmentationSettings.objects.get().quick_win_days == 7


def test_partner_page_filters_reps_by_tier(manager_client, tenant, manager):
    world = _world(tenant, manager, reps=6)
    partner = world["partners"][0]
    with tenant_scope(tenant):
        top = set(
            world["run"]
            .rep_segments.filter(partner=partner, tier="top")
            .values_list("rep__name", flat=True)
        )
        others = set(
            world["run"]
            .rep_segments.filter(partner=partner)
            .exclude(tier="top")
            .values_list("rep__name", flat=True)
        )
    html = manager_client.get(
        reverse("partner-detail", args=[partner.pk]), {"tier": "top"}
    ).content.decode()
    assert top and all(f">{name}<" in html for name in top)
    assert not any(f">{name}<" in html for name in others)


def test_japanese_dates_and_money(manager_client, tenant, manager):
    world = _world(tenant, manager, reps=1)
    rep = world["reps"][0]
    html = manager_client.get(
        reverse("rep-detail", args=[rep.pk]), HTTP_ACCEPT_LANGUAGE="ja"
    ).content.decode()
    assert "受注件数" in html and "¥1,000,000" in html
    assert f"{timezone.localdate().year}/" in html  # SHORT_DATE_FORMAT in Japanese: Y/m/d


def test_partner_list_counts_its_rows_and_searches(manager_client, tenant, manager, rival):
    _world(tenant, manager, reps=1)
    html = manager_client.get(reverse("partner-list")).content.decode()
    assert "2 rows" in html and "Acme Partner 0" in html and "Rival" not in html
    html = manager_client.get(reverse("partner-list"), {"q": "partner 1"}).content.decode()
    assert "1 row" in html and "Acme Partner 1" in html and "Acme Partner 0" not in html


def test_scatter_samples_evenly_beyond_its_limit_and_says_so(
    manager_client, tenant, manager, monkeypatch
):
    world = _world(tenant, manager, reps=4)
    monkeypatch.setattr("web.selectors.SCATTER_MAX_POINTS", 3)
    data = manager_client.get(reverse("chart-scatter")).json()
    assert data["total"] == len(world["reps"]) and data["shown"] == 3
    assert sum(len(ds["data"]) for ds in data["datasets"]) == 3


def test_another_tenants_member_is_not_an_assignee(manager_client, tenant, manager, other_manager):
    rep = _world(tenant, manager, reps=1)["reps"][0]
    html = manager_client.get(reverse("task-create"), {"rep": rep.pk}).content.decode()
    assert other_manager.email not in html
    due = (timezone.localdate() + dt.timedelta(days=5)).isoformat()
    response = manager_client.post(
        reverse("task-create"),
        {"rep": rep.pk, "kind": "accompany", "assignee": other_manager.pk, "due_on": due},
    )
    html = response.content.decode()
    assert response.status_code == 200
    field = html[html.index('name="assignee"') :]
    assert field.index("Select a valid choice.") < field.index("</div>")
    with tenant_scope(tenant):
        assert not SupportTask.objects.filter(assignee=other_manager).exists()


@pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="row-level security is PostgreSQL's",
)
def test_keymen_csv_is_complete_behind_row_level_security(manager_client, tenant, manager, rival):
    """The streamed CSV is written after the request's scope ends: it must re-enter it."""
    from tests.hardening.conftest import acting_as_app_role

    world = _world(tenant, manager, reps=3)
    with acting_as_app_role():
        response = manager_client.get(reverse("keymen-export", args=["csv"]))
        body = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body)))
    assert sorted(r[0] for r in rows[1:]) == sorted(r.name for r in world["reps"])


@pytest.mark.parametrize("name", ["task-create", "hearing-create"])
def test_a_rep_that_is_not_a_number_is_404_not_500(manager_client, name):
    assert manager_client.get(reverse(name), {"rep": "abc"}).status_code == 404
