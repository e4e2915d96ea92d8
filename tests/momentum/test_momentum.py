"""Momentum snapshots checked by hand for one partner over two weeks (tenant in Tokyo)."""

import datetime as dt
import zoneinfo
from decimal import Decimal

import pytest
from django.core.management import call_command

from momentum.models import MomentumSnapshot
from momentum.selectors import momentum_indicators, momentum_score
from momentum.services import momentum_backfill, momentum_build, momentum_build_current
from pse_crm.tenancy import tenant_scope
from segmentation.models import Quadrant, SegmentationRun
from support.models import SupportTask
from support.services.quick_wins import quick_wins_compute
from tests.activities.factories import DealFactory, MaterialViewFactory
from tests.knowhow.factories import KnowHowShareFactory
from tests.partners.factories import PartnerFactory
from tests.reps.factories import RepFactory
from tests.segmentation.factories import RepSegmentFactory, SegmentationRunFactory
from tests.support.factories import SupportTaskFactory

TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")
WEEK_A = dt.date(2026, 3, 2)  # Monday
WEEK_B = dt.date(2026, 3, 9)
NOW = dt.datetime(2026, 3, 12, 12, 0, tzinfo=TOKYO)  # Thursday of week B


def at(day: int, hour: int = 10, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=TOKYO)


FIGURES = (
    "reps",
    "active_reps",
    "activation_rate",
    "keyman1",
    "keyman2",
    "views",
    "new_deals",
    "won_deals",
    "won_amount",
    "tasks_done",
    "quick_wins",
    "know_how_shares",
)


def figures(snapshot):
    return {name: getattr(snapshot, name) for name in FIGURES}


@pytest.fixture
def world(tenant, other_tenant):
    """Partner P (reps r1..r3 employed, r4 left) and an idle partner Q; a busy rival."""
    p = PartnerFactory(tenant=tenant, name="P")
    q = PartnerFactory(tenant=tenant, name="Q")
    r1, r2, r3 = (RepFactory(partner=p) for _ in range(3))
    r4 = RepFactory(partner=p, is_employed=False)
    RepFactory(partner=q)

    # Week A
    MaterialViewFactory(rep=r1, viewed_at=at(2))
    MaterialViewFactory(rep=r1, viewed_at=at(8, 23, 30))  # Sunday night in Tokyo: week A
    MaterialViewFactory(rep=r4, viewed_at=at(4))
    DealFactory(rep=r3, sf_created_at=at(4), amount=500_000)
    DealFactory(
        rep=r3, sf_created_at=None, is_won=True, close_date=dt.date(2026, 3, 6), amount=1_000_000
    )
    KnowHowShareFactory(partner=p, shared_on=dt.date(2026, 3, 5))
    # Week B
    MaterialViewFactory(rep=r2, viewed_at=at(9, 0, 30))  # 15:30 UTC on Sunday: week B here
    MaterialViewFactory(rep=r1, viewed_at=at(10))
    DealFactory(
        rep=r1, sf_created_at=None, is_won=True, close_date=dt.date(2026, 3, 10), amount=2_000_000
    )
    DealFactory(
        rep=r1,
        sf_created_at=None,
        is_won=True,
        close_date=dt.date(2026, 3, 10),
        amount=9_000_000,
        is_deleted=True,
    )
    DealFactory(rep=r2, sf_created_at=at(11), amount=300_000)
    SupportTaskFactory(
        rep=r2, status=SupportTask.Status.IN_PROGRESS, started_at=at(9, 12)
    )  # quick win: r2 opened a deal on the 11th
    SupportTaskFactory(
        rep=r1, status=SupportTask.Status.DONE, started_at=at(9, 12), done_at=at(10, 18)
    )  # done in week B; quick win: r1 won on the 10th

    # Segmentation: a run in each week.
    run_a = SegmentationRunFactory(tenant=tenant, as_of=at(8, 3), is_current=False)
    run_b = SegmentationRunFactory(tenant=tenant, as_of=at(11, 3), is_current=True)
    for run, quadrants in (
        (run_a, [Quadrant.PERFORMER, Quadrant.MOTIVATED, Quadrant.MOTIVATED]),
        (run_b, [Quadrant.PERFORMER, Quadrant.PERFORMER, Quadrant.MOTIVATED]),
    ):
        for rep, quadrant in zip((r1, r2, r3), quadrants, strict=True):
            RepSegmentFactory(run=run, rep=rep, quadrant=quadrant)

    # Another tenant, same weeks: must never be counted.
    rival = RepFactory(partner__tenant=other_tenant)
    MaterialViewFactory(rep=rival, viewed_at=at(3))
    DealFactory(rep=rival, is_won=True, close_date=dt.date(2026, 3, 3), sf_created_at=at(3))
    KnowHowShareFactory(rep=rival, partner=rival.partner, shared_on=dt.date(2026, 3, 3))
    return {"p": p, "q": q}


def _build(tenant):
    with tenant_scope(tenant):
        quick_wins_compute(tenant=tenant, now=NOW)
        momentum_build(tenant=tenant, mondays=[WEEK_A, WEEK_B], now=NOW)
        return {(s.partner_id, s.week_start): s for s in MomentumSnapshot.objects.all()}


def test_two_weeks_of_one_partner_by_hand(tenant, world):
    rows = _build(tenant)
    p = world["p"].pk
    assert figures(rows[(p, WEEK_A)]) == {
        "reps": 4,  # r1..r3 employed, r4 left but active that week
        "active_reps": 3,  # r1 and r4 viewed, r3 opened and won
        "activation_rate": Decimal("0.7500"),
        "keyman1": 1,
        "keyman2": 2,
        "views": 3,
        "new_deals": 1,
        "won_deals": 1,
        "won_amount": Decimal("1000000.00"),
        "tasks_done": 0,
        "quick_wins": 0,
        "know_how_shares": 1,
    }
    assert figures(rows[(p, WEEK_B)]) == {
        "reps": 3,
        "active_reps": 2,  # r2 (a view just after midnight, a new deal) and r1
        "activation_rate": Decimal("0.6667"),
        "keyman1": 2,
        "keyman2": 1,
        "views": 2,
        "new_deals": 1,
        "won_deals": 1,  # the deleted deal does not count
        "won_amount": Decimal("2000000.00"),
        "tasks_done": 1,
        "quick_wins": 2,
        "know_how_shares": 0,
    }
    b = rows[(p, WEEK_B)]
    assert (b.iso_year, b.iso_week) == (2026, 11)


def test_idle_partner_and_tenant_rows(tenant, world):
    rows = _build(tenant)
    q = figures(rows[(world["q"].pk, WEEK_A)])
    assert (q["reps"], q["active_reps"], q["views"], q["activation_rate"]) == (1, 0, 0, 0)
    whole = figures(rows[(None, WEEK_A)])
    # The tenant row sums the partners; the rival tenant's view, deal and share are absent.
    assert (whole["reps"], whole["active_reps"], whole["views"]) == (5, 3, 3)
    assert (whole["won_deals"], whole["know_how_shares"]) == (1, 1)
    assert len(rows) == 6  # (P, Q, tenant) × 2 weeks


def test_rebuild_is_idempotent_and_other_tenant_gets_nothing(tenant, other_tenant, world):
    first = {k: figures(v) for k, v in _build(tenant).items()}
    second = {k: figures(v) for k, v in _build(tenant).items()}
    assert first == second
    with tenant_scope(other_tenant):
        assert not MomentumSnapshot.objects.exists()


def test_backfill_gives_the_same_numbers_as_the_nightly_build(tenant, world):
    with tenant_scope(tenant):
        quick_wins_compute(tenant=tenant, now=NOW)
        momentum_build_current(tenant=tenant, now=NOW)  # the nightly step: this week and the last
        nightly = {(s.partner_id, s.week_start): figures(s) for s in MomentumSnapshot.objects.all()}
        momentum_backfill(tenant=tenant, weeks=2, now=NOW)
        backfill = {
            (s.partner_id, s.week_start): figures(s) for s in MomentumSnapshot.objects.all()
        }
    assert set(nightly) == {
        (pk, w) for pk in (world["p"].pk, world["q"].pk, None) for w in (WEEK_A, WEEK_B)
    }
    assert backfill == nightly


def test_backfill_segments_weeks_without_a_run_then_nightly_agrees(tenant, world):
    from momentum.tasks import tenant_nightly

    with tenant_scope(tenant):
        SegmentationRun.objects.all().delete()
        momentum_backfill(tenant=tenant, weeks=3, now=NOW)
        runs = SegmentationRun.objects.filter(status=SegmentationRun.Status.SUCCEEDED)
        assert runs.count() == 3  # one as of the end of each week, this week's as of now
        backfill = {
            (s.partner_id, s.week_start): figures(s) for s in MomentumSnapshot.objects.all()
        }
    tenant_nightly.delay(tenant.pk, NOW.isoformat())
    with tenant_scope(tenant):
        nightly = {(s.partner_id, s.week_start): figures(s) for s in MomentumSnapshot.objects.all()}
    assert len(backfill) == 9
    assert nightly == backfill


def test_backfill_command(tenant, world, capsys):
    call_command("backfill_momentum", tenant="acme", weeks=4, no_segmentation=True)
    with tenant_scope(tenant):
        weeks = set(MomentumSnapshot.objects.values_list("week_start", flat=True))
    assert len(weeks) == 4
    assert "snapshots over 4 weeks" in capsys.readouterr().out


# --- the label -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("active", "wins", "label"),
    [
        ([2, 2, 2, 2, 4, 4, 4, 4], [1, 1, 0, 0, 2, 1, 1, 0], "accelerating"),  # A=1, W=1
        ([4, 4, 4, 4, 3, 3, 3, 3], [1, 1, 1, 1, 0, 0, 1, 1], "stalling"),  # A=-.25, W=-.5
        ([5, 5, 5, 5, 5, 5, 5, 5], [1, 0, 1, 0, 0, 1, 0, 1], "steady"),  # A=0, W=0
        ([10, 10, 10, 10, 11, 11, 11, 11], [2, 2, 2, 2, 2, 2, 2, 2], "steady"),  # 0.05
        ([3], [1], "steady"),  # not enough weeks
    ],
)
def test_momentum_label_by_hand(active, wins, label):
    assert momentum_score(active_reps=active, won_deals=wins).label == label


def test_indicators_read_the_last_eight_weeks_per_partner(tenant, world):
    with tenant_scope(tenant):
        momentum_backfill(tenant=tenant, weeks=8, segment_weeks=False, now=NOW)
        indicators = momentum_indicators(tenant=tenant, until=NOW.date())
        p = indicators[world["p"].pk]
        # Weeks 1-6 idle, week A 3 active, week B 2: later half 1.25 vs earlier 0 active.
        assert p.weeks == 8 and p.label == "accelerating"
        assert indicators[world["q"].pk].label == "steady"
        assert None in indicators


# --- the demo data ----------------------------------------------------------------------


def test_demo_seed_then_backfill(tenant, manager, staff, capsys):
    from knowhow.models import Hearing, KnowHow, KnowHowShare
    from support.models import QuickWin

    call_command("seed_demo", tenant="acme", verbosity=0, partners=3, reps=60, views=3000, days=120)
    call_command("seed_enablement_demo", tenant="acme")
    with tenant_scope(tenant):
        counts = (
            Hearing.objects.count(),
            KnowHow.objects.count(),
            KnowHowShare.objects.count(),
            SupportTask.objects.count(),
        )
        assert counts[0] >= 1 and counts[1] >= 1 and counts[2] >= 1 and counts[3] >= 1
        assert SupportTask.objects.filter(status=SupportTask.Status.DONE).exists()
        assert (
            QuickWin.objects.count() == SupportTask.objects.filter(started_at__isnull=False).count()
        )
    call_command("seed_enablement_demo", tenant="acme")  # a second run changes nothing
    assert "nothing changed" in capsys.readouterr().out
    call_command("backfill_momentum", tenant="acme", weeks=6)
    with tenant_scope(tenant):
        assert (
            Hearing.objects.count(),
            KnowHow.objects.count(),
            KnowHowShare.objects.count(),
            SupportTask.objects.count(),
        ) == counts
        whole = MomentumSnapshot.objects.filter(partner__isnull=True).order_by("week_start")
        assert whole.count() == 6
        assert all(s.reps > 0 for s in whole)
        assert sum(s.views for s in whole) > 0
        # Every past week has its own segmentation run, so keyman counts have a history.
        assert sum(s.keyman2 for s in whole) > 0


# --- set-based reads --------------------------------------------------------------------


def test_build_queries_do_not_grow_with_weeks_or_partners(
    tenant, world, django_assert_max_num_queries
):
    with tenant_scope(tenant):
        with django_assert_max_num_queries(20):
            momentum_build(tenant=tenant, mondays=[WEEK_A], now=NOW)
        for _ in range(5):
            PartnerFactory(tenant=tenant)
        weeks = [WEEK_B - dt.timedelta(weeks=i) for i in range(12)]
        with django_assert_max_num_queries(20):
            momentum_build(tenant=tenant, mondays=weeks, now=NOW)
        assert MomentumSnapshot.objects.filter(week_start__in=weeks).count() == 12 * 8
