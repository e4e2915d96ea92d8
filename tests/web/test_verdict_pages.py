"""The pages read the honest verdicts: the cut-offs in words, the list to act on, the
first-performer playbook with its one-click tasks, tiers with their actual shares,
p-values that never read 0.0000 and weekly charts whose last week is marked partial."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from momentum.models import MomentumSnapshot
from pse_crm.calendar import day_start, tenant_today, week_start
from pse_crm.tenancy import tenant_scope
from segmentation.models import SegmentationRun
from segmentation.services.runs import segmentation_run
from segmentation.templatetags.segmentation_stats import p_value
from support.models import SupportTask
from support.services.support_tasks import support_task_create
from tests.activities.factories import DealFactory, MaterialViewFactory
from tests.partners.factories import PartnerFactory
from tests.reps.factories import RepFactory

pytestmark = pytest.mark.django_db


def _views(rep, count, *, days_ago=1.0):
    now = timezone.now()
    for i in range(count):
        MaterialViewFactory(
            tenant=rep.tenant, rep=rep, viewed_at=now - dt.timedelta(days=days_ago, minutes=i)
        )


def _won(rep, amount):
    DealFactory(
        tenant=rep.tenant,
        rep=rep,
        partner=rep.partner,
        amount=amount,
        is_closed=True,
        is_won=True,
        close_date=timezone.localdate() - dt.timedelta(days=5),
        sf_created_at=timezone.now() - dt.timedelta(days=200),
    )


def build(tenant, prefix="Acme"):
    """ "Star": a performer and four others (tiered); "Quiet": no keyman ①, six readers
    (so at most five candidates) and an idle rep."""
    with tenant_scope(tenant):
        star = PartnerFactory(tenant=tenant, name=f"{prefix} Star")
        quiet = PartnerFactory(tenant=tenant, name=f"{prefix} Quiet")
        reps = {}
        for name, views, won in (
            ("s1", 30, 5_000_000),
            ("s2", 25, 0),
            ("s3", 0, 2_000_000),
            ("s4", 1, 0),
            ("s5", 0, 0),
        ):
            reps[name] = RepFactory(tenant=tenant, partner=star, name=f"{prefix} {name}")
            _views(reps[name], views)
            if won:
                _won(reps[name], won)
        for name, views, days_ago in (
            ("q1", 3, 1),
            ("q2", 20, 2),
            ("q3", 20, 1),
            ("q4", 9, 1),
            ("q5", 2, 1),
            ("q6", 1, 1),
        ):
            reps[name] = RepFactory(tenant=tenant, partner=quiet, name=f"{prefix} {name}")
            _views(reps[name], views, days_ago=days_ago)
        reps["q7"] = RepFactory(tenant=tenant, partner=quiet, name=f"{prefix} q7")
        run = segmentation_run(tenant=tenant, as_of=timezone.now())
        assert run.status == SegmentationRun.Status.SUCCEEDED, run.error
    return {"star": star, "quiet": quiet, "reps": reps, "run": run}


@pytest.fixture
def world(tenant):
    return build(tenant)


@pytest.fixture
def rival(other_tenant):
    return build(other_tenant, prefix="Rival")


def test_the_dashboard_says_the_cut_offs_and_the_playbook(manager_client, world, rival):
    html = manager_client.get(reverse("dashboard")).content.decode()
    # Readers: 30 25 1 3 20 20 9 2 1 -> median 9; two reps won: any win.
    assert "Views cut-off 9: the median of the 9 reps who viewed anything (more is high)" in html
    assert "Results cut-off: any win (only 2 reps won)" in html
    assert "No top player yet: make a first one" in html
    card = html[html.index('data-testid="first-performer"') :]
    card = card[: card.index("</section>")]
    assert "Acme Quiet" in card and "Acme Star" not in card and "Rival" not in card
    # The most motivated first: 20 views each (q3 read last), then 9, 3, 2; q6 is sixth.
    names = [n for n in ("q3", "q2", "q4", "q1", "q5", "q6") if f"Acme {n}<" in card]
    assert names == ["q3", "q2", "q4", "q1", "q5"]
    order = [card.index(f"Acme {n}<") for n in names]
    assert order == sorted(order)
    assert "Intensive support: 5 tasks" in card
    assert "no flagged partner has gained a keyman ① yet" in card
    # The low/low cell: casual (active) apart from dormant (no activity).
    assert 'href="/keymen/?quadrant=casual"' in html


def test_one_click_creates_intensive_support_for_the_candidates(
    manager_client, manager, tenant, world
):
    reps = world["reps"]
    with tenant_scope(tenant):
        support_task_create(
            tenant=tenant,
            rep=reps["q2"],
            kind=SupportTask.Kind.MATERIALS,
            assignee=manager,
            assigned_by=manager,
            due_on=timezone.localdate() + dt.timedelta(days=3),
        )
    page = manager_client.get(reverse("partner-detail", args=[world["quiet"].pk])).content
    assert "Intensive support: 4 tasks" in page.decode()  # q2 already has an open task
    url = reverse("partner-first-performer-tasks", args=[world["quiet"].pk])
    response = manager_client.post(url, {"back": "dashboard"})
    assert response.status_code == 302 and response["Location"] == reverse("dashboard")
    with tenant_scope(tenant):
        created = SupportTask.objects.filter(kind=SupportTask.Kind.ACCOMPANY)
        assert {t.rep.name for t in created} == {"Acme q3", "Acme q4", "Acme q1", "Acme q5"}
        assert {t.assignee for t in created} == {manager}
        assert all(t.status == "open" for t in created)
    # A second click finds no candidate without an open task: nothing more.
    manager_client.post(url)
    with tenant_scope(tenant):
        assert SupportTask.objects.filter(kind=SupportTask.Kind.ACCOMPANY).count() == 4


def test_one_click_is_for_managers_of_the_partners_tenant(viewer_client, world, rival):
    url = reverse("partner-first-performer-tasks", args=[world["quiet"].pk])
    assert viewer_client.post(url).status_code == 403
    other = reverse("partner-first-performer-tasks", args=[rival["quiet"].pk])
    assert viewer_client.post(other).status_code in (403, 404)


def test_the_partner_list_flags_partners_without_keyman_1(manager_client, world, rival):
    html = manager_client.get(reverse("partner-list")).content.decode()
    row = html[html.index("Acme Quiet") :]
    row = row[: row.index("</tr>")]
    assert 'data-testid="first-performer-flag"' in row
    star = html[html.index("Acme Star") :]
    assert 'data-testid="first-performer-flag"' not in star[: star.index("</tr>")]
    assert "1 partner has no keyman ① yet." in html
    only = manager_client.get(reverse("partner-list"), {"first_performer": "1"}).content.decode()
    assert "Acme Quiet" in only and "Acme Star" not in only and "Rival" not in only


def test_the_median_time_to_a_first_performer_is_shown(manager_client, tenant, world):
    with tenant_scope(tenant):
        _won(world["reps"]["q3"], 800_000)
        later = segmentation_run(tenant=tenant, as_of=world["run"].as_of + dt.timedelta(days=6))
    assert later.first_performer_median_days == 6
    html = manager_client.get(reverse("partner-list")).content.decode()
    assert "Time to a first performer: median 6 days (over 1 partner that got one)." in html


def test_tiers_show_their_actual_share(manager_client, world):
    # Star: 5 reps -> top 1 (s1), bottom 1 (s5 scores 0), middle 3: 20/60/20. Quiet: 7
    # reps -> q2 and q3 tie at the top (both go up), q7 alone at the bottom, 4 middle.
    page = manager_client.get(reverse("partner-detail", args=[world["quiet"].pk]))
    html = page.content.decode()
    assert "Top · 2 (29%)" in html and "Middle · 4 (57%)" in html
    assert "Middle 60%" not in html and "Top 20%" not in html
    dashboard = manager_client.get(reverse("dashboard")).content.decode()
    assert "top 29% · middle 57% · bottom 14%" in dashboard
    assert "top 20% · middle 60% · bottom 20%" in dashboard
    keymen = manager_client.get(reverse("keymen")).content.decode()
    # The filter: each tier with its share of the tenant's tiered reps (3/7/2 of 12).
    assert "Top · 25%" in keymen and "Middle · 58%" in keymen and "Bottom · 17%" in keymen
    # The badge: the rep's tier with its share of the rep's partner.
    assert ">Middle · 57%</span>" in keymen and ">Middle · 60%</span>" in keymen
    rep = manager_client.get(reverse("rep-detail", args=[world["reps"]["q4"].pk])).content
    assert "Middle · 57%" in rep.decode()


def test_keymen_lists_keyman_2_by_motivation_and_keyman_1_by_results(manager_client, tenant, world):
    with tenant_scope(tenant):
        # A second performer with more won and fewer views than s1.
        big = RepFactory(tenant=tenant, partner=world["star"], name="Acme big")
        _views(big, 12)
        _won(big, 9_000_000)
        segmentation_run(tenant=tenant, as_of=timezone.now())
    html = manager_client.get(reverse("keymen"), {"quadrant": "motivated"}).content.decode()
    # Views 25 (s2), 20 (q3: read a day ago), 20 (q2: two days ago).
    names = ["Acme s2", "Acme q3", "Acme q2"]
    assert [html.index(f">{n}<") for n in names] == sorted(html.index(f">{n}<") for n in names)
    html = manager_client.get(reverse("keymen"), {"quadrant": "performer"}).content.decode()
    assert html.index(">Acme big<") < html.index(">Acme s1<")
    # The reader's own sort still wins.
    html = manager_client.get(reverse("keymen"), {"quadrant": "performer", "sort": "views"})
    text = html.content.decode()
    assert text.index(">Acme s1<") < text.index(">Acme big<")
    # The export lists the same order.
    export = manager_client.get(reverse("keymen-export", args=["csv"]), {"quadrant": "motivated"})
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode("utf-8-sig"))))
    assert [r[0] for r in rows[1:]] == names
    # The cut-offs in one line, as on the dashboard.
    assert 'data-testid="cutoffs"' in text


def test_p_values_below_the_fourth_decimal_never_read_zero():
    assert p_value(3.2e-9) == "< 0.0001"
    assert p_value(0.0001) == "= 0.0001"
    assert p_value(0.04321) == "= 0.0432"
    assert p_value(None) == "—"


def test_the_dashboard_reads_p_below_0_0001(manager_client, tenant, world):
    with tenant_scope(tenant):
        SegmentationRun.objects.filter(pk=world["run"].pk).update(
            correlation_n=400, correlation_rho=0.6, correlation_p_value=1e-12
        )
    html = manager_client.get(reverse("dashboard")).content.decode()
    assert "p &lt; 0.0001" in html and "0.0000" not in html


def test_the_current_week_is_marked_partial_in_the_weekly_charts(manager_client, tenant, world):
    data = manager_client.get(reverse("chart-rep-views", args=[world["reps"]["q2"].pk])).json()
    assert len(data["partial"]) == len(data["labels"]) == 26
    assert data["partial"] == [False] * 25 + [True]
    assert data["partial_text"]
    with tenant_scope(tenant):
        this_week = week_start(tenant_today(tenant))
        # Two weeks back: built after the week ended. Last week: built on its Thursday, so
        # it misses days. This week: built now, and the week goes on.
        for weeks_back, built_after_days in ((2, 9), (1, 3), (0, None)):
            monday = this_week - dt.timedelta(weeks=weeks_back)
            MomentumSnapshot.objects.create(
                tenant=tenant,
                partner=None,
                week_start=monday,
                iso_year=monday.isocalendar()[0],
                iso_week=monday.isocalendar()[1],
                computed_at=timezone.now()
                if built_after_days is None
                else day_start(tenant, monday + dt.timedelta(days=built_after_days)),
            )
    momentum = manager_client.get(reverse("chart-momentum")).json()
    assert momentum["partial"] == [False, True, True]
