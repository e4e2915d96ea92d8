"""Quick wins, computed by hand for small cases (tenant zone Asia/Tokyo, window N days)."""

import datetime as dt
import zoneinfo

import pytest

from pse_crm.tenancy import tenant_scope
from segmentation.models import SegmentationSettings
from support.models import QuickWin, SupportTask
from support.selectors.quick_wins import quick_win_days, quick_win_rates
from support.services.quick_wins import quick_wins_compute
from support.services.support_tasks import support_task_create, support_task_transition
from tests.activities.factories import DealFactory
from tests.reps.factories import RepFactory
from tests.support.factories import SupportTaskFactory

TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")
# 00:30 in Tokyo is still the previous day in UTC: day 0 must be the Tokyo date.
STARTED = dt.datetime(2026, 3, 2, 0, 30, tzinfo=TOKYO)
DAY0 = dt.date(2026, 3, 2)
Outcome = QuickWin.Outcome


@pytest.fixture
def started_task(tenant):
    rep = RepFactory(partner__tenant=tenant)
    return SupportTaskFactory(rep=rep, status=SupportTask.Status.IN_PROGRESS, started_at=STARTED)


def _won(rep, close, **kw):
    return DealFactory(
        rep=rep, is_won=True, is_closed=True, close_date=close, sf_created_at=None, **kw
    )


def _compute(tenant, today):
    with tenant_scope(tenant):
        quick_wins_compute(tenant=tenant, now=dt.datetime.combine(today, dt.time(12), tzinfo=TOKYO))
        return {q.task_id: q for q in QuickWin.objects.all()}


def test_default_window_is_60_days_and_follows_the_setting(in_tenant):
    assert quick_win_days(tenant=in_tenant) == 60
    SegmentationSettings.objects.create(tenant=in_tenant, quick_win_days=30)
    assert quick_win_days(tenant=in_tenant) == 30


def test_win_on_day_n_counts(tenant, started_task):
    deal = _won(started_task.rep, DAY0 + dt.timedelta(days=60))
    qw = _compute(tenant, DAY0 + dt.timedelta(days=90))[started_task.pk]
    assert (qw.outcome, qw.won_deal_id, qw.days_to_win) == (Outcome.WON, deal.pk, 60)
    assert qw.started_on == DAY0 and qw.window_days == 60 and qw.achieved_on == deal.close_date


def test_win_on_day_n_plus_1_is_a_miss(tenant, started_task):
    _won(started_task.rep, DAY0 + dt.timedelta(days=61))
    qw = _compute(tenant, DAY0 + dt.timedelta(days=90))[started_task.pk]
    assert qw.outcome == Outcome.MISSED and qw.won_on is None and qw.days_to_win is None


def test_no_win_is_pending_inside_the_window_then_missed(tenant, started_task):
    assert (
        _compute(tenant, DAY0 + dt.timedelta(days=60))[started_task.pk].outcome == Outcome.PENDING
    )
    assert _compute(tenant, DAY0 + dt.timedelta(days=61))[started_task.pk].outcome == Outcome.MISSED


def test_win_before_the_task_started_does_not_count(tenant, started_task):
    _won(started_task.rep, DAY0 - dt.timedelta(days=1))
    DealFactory(rep=started_task.rep, sf_created_at=STARTED - dt.timedelta(hours=1))
    qw = _compute(tenant, DAY0 + dt.timedelta(days=61))[started_task.pk]
    assert qw.outcome == Outcome.MISSED


def test_win_on_day_zero_counts(tenant, started_task):
    _won(started_task.rep, DAY0)
    qw = _compute(tenant, DAY0 + dt.timedelta(days=1))[started_task.pk]
    assert (qw.outcome, qw.days_to_win) == (Outcome.WON, 0)


def test_a_new_deal_in_the_window_is_a_quick_win_and_a_later_win_wins(tenant, started_task):
    opened = DealFactory(rep=started_task.rep, sf_created_at=STARTED + dt.timedelta(days=10))
    qw = _compute(tenant, DAY0 + dt.timedelta(days=20))[started_task.pk]
    assert (qw.outcome, qw.opened_deal_id, qw.opened_on) == (
        Outcome.OPENED,
        opened.pk,
        DAY0 + dt.timedelta(days=10),
    )
    assert qw.achieved_on == DAY0 + dt.timedelta(days=10)
    opened.is_won, opened.close_date = True, DAY0 + dt.timedelta(days=30)
    opened.save()
    qw = _compute(tenant, DAY0 + dt.timedelta(days=40))[started_task.pk]
    assert (qw.outcome, qw.days_to_win, qw.achieved_on) == (
        Outcome.WON,
        30,
        DAY0 + dt.timedelta(days=10),
    )


def test_a_deal_synced_late_is_counted_when_it_arrives(tenant, started_task):
    today = DAY0 + dt.timedelta(days=75)
    assert _compute(tenant, today)[started_task.pk].outcome == Outcome.MISSED
    # The deal closed on day 20 but reaches us by sync on day 75.
    _won(started_task.rep, DAY0 + dt.timedelta(days=20))
    qw = _compute(tenant, today)[started_task.pk]
    assert (qw.outcome, qw.days_to_win) == (Outcome.WON, 20)
    with tenant_scope(tenant):
        assert QuickWin.objects.filter(task=started_task).count() == 1


def test_deleted_deals_and_other_reps_never_count(tenant, started_task):
    _won(started_task.rep, DAY0 + dt.timedelta(days=5), is_deleted=True)
    _won(RepFactory(partner=started_task.rep.partner), DAY0 + dt.timedelta(days=5))
    assert _compute(tenant, DAY0 + dt.timedelta(days=61))[started_task.pk].outcome == Outcome.MISSED


def test_tasks_not_started_get_no_outcome_and_other_tenants_are_untouched(
    tenant, other_tenant, started_task
):
    SupportTaskFactory(rep=RepFactory(partner__tenant=tenant))  # open, never started
    foreign = SupportTaskFactory(
        rep=RepFactory(partner__tenant=other_tenant),
        status=SupportTask.Status.IN_PROGRESS,
        started_at=STARTED,
    )
    _won(foreign.rep, DAY0 + dt.timedelta(days=1))
    results = _compute(tenant, DAY0 + dt.timedelta(days=5))
    assert set(results) == {started_task.pk}
    with tenant_scope(other_tenant):
        assert not QuickWin.objects.exists()


def test_starting_a_task_records_a_pending_outcome(in_tenant, staff, manager):
    rep = RepFactory(partner__tenant=in_tenant)
    task = support_task_create(
        tenant=in_tenant,
        rep=rep,
        kind=SupportTask.Kind.PROPOSAL_REVIEW,
        assignee=staff,
        assigned_by=manager,
        due_on=dt.date.today() + dt.timedelta(days=3),
    )
    support_task_transition(task=task, to_status=SupportTask.Status.IN_PROGRESS, by=staff)
    assert QuickWin.objects.get(task=task).outcome == Outcome.PENDING


def test_rates_by_kind_assignee_partner_and_month(tenant, other_tenant):
    rep_a = RepFactory(partner__tenant=tenant)
    rep_b = RepFactory(partner__tenant=tenant)
    kinds = SupportTask.Kind

    def task(rep, kind, started):
        return SupportTaskFactory(
            rep=rep, kind=kind, status=SupportTask.Status.IN_PROGRESS, started_at=started
        )

    t1 = task(rep_a, kinds.ACCOMPANY, STARTED)  # won on day 10
    t2 = task(rep_b, kinds.ACCOMPANY, STARTED)  # missed
    t3 = task(rep_b, kinds.MATERIALS, STARTED + dt.timedelta(days=40))  # pending
    _won(rep_a, DAY0 + dt.timedelta(days=10))
    foreign = SupportTaskFactory(
        rep=RepFactory(partner__tenant=other_tenant),
        kind=kinds.ACCOMPANY,
        status=SupportTask.Status.IN_PROGRESS,
        started_at=STARTED,
    )
    _won(foreign.rep, DAY0)
    with tenant_scope(other_tenant):
        quick_wins_compute(tenant=other_tenant, now=STARTED + dt.timedelta(days=70))
    _compute(tenant, DAY0 + dt.timedelta(days=70))
    with tenant_scope(tenant):
        by_kind = {r["key"]: r for r in quick_win_rates(group_by="kind")}
        assert by_kind[kinds.ACCOMPANY]["started"] == 2  # the other tenant's task is not here
        assert by_kind[kinds.ACCOMPANY]["rate"] == 0.5
        assert by_kind[kinds.ACCOMPANY]["avg_days_to_win"] == 10
        assert by_kind[kinds.MATERIALS]["rate"] is None  # nothing decided yet
        by_assignee = {r["key"]: r["quick_wins"] for r in quick_win_rates(group_by="assignee")}
        assert by_assignee == {t1.assignee_id: 1, t2.assignee_id: 0, t3.assignee_id: 0}
        by_partner = {r["key"]: r["decided"] for r in quick_win_rates(group_by="partner")}
        assert by_partner == {rep_a.partner_id: 1, rep_b.partner_id: 1}
        by_month = [(r["key"], r["started"]) for r in quick_win_rates(group_by="month")]
        assert by_month == [(dt.date(2026, 3, 1), 2), (dt.date(2026, 4, 1), 1)]


def test_compute_is_a_fixed_number_of_queries(tenant, django_assert_max_num_queries):
    for _ in range(15):
        task = SupportTaskFactory(
            rep=RepFactory(partner__tenant=tenant),
            status=SupportTask.Status.IN_PROGRESS,
            started_at=STARTED,
        )
        _won(task.rep, DAY0 + dt.timedelta(days=3))
    with tenant_scope(tenant), django_assert_max_num_queries(8):
        assert quick_wins_compute(tenant=tenant, now=STARTED + dt.timedelta(days=5)) == 15


@pytest.mark.celery_worker
def test_real_worker_recomputes_quick_wins_and_momentum(celery_worker):
    from momentum.models import MomentumSnapshot
    from support.tasks import quick_wins_recompute
    from tests.factories import TenantFactory

    acme = TenantFactory(slug="acme", timezone="Asia/Tokyo")
    rival = TenantFactory(slug="rival")
    task = SupportTaskFactory(
        rep=RepFactory(partner__tenant=acme),
        status=SupportTask.Status.IN_PROGRESS,
        started_at=dt.datetime.now(tz=TOKYO) - dt.timedelta(days=3),
    )
    _won(task.rep, dt.datetime.now(tz=TOKYO).date() - dt.timedelta(days=1))
    SupportTaskFactory(
        rep=RepFactory(partner__tenant=rival),
        status=SupportTask.Status.IN_PROGRESS,
        started_at=dt.datetime.now(tz=TOKYO),
    )

    assert quick_wins_recompute.delay(acme.pk).get(timeout=60) == 1

    with tenant_scope(acme):
        assert QuickWin.objects.get(task=task).days_to_win == 2
        assert MomentumSnapshot.objects.filter(partner__isnull=True).count() == 2
    with tenant_scope(rival):
        assert not QuickWin.objects.exists() and not MomentumSnapshot.objects.exists()
