"""The segmentation's statements (quadrants, tiers, scores, partner figures) against a
small hand-built data set (``handbuilt.py``).

Every expected quadrant, tier, activation rate and statistic below is worked out by hand
in the comments, from the data the fixture builds.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
from decimal import Decimal

import pytest
from django.db import connection
from scipy import stats as scipy_stats

from pse_crm.tenancy import tenant_scope
from segmentation.models import PartnerSegment, RepSegment, SegmentationRun
from segmentation.selectors import (
    rep_segment_history,
    rep_segments_current,
    segment_scatter_points,
    segmentation_current_run,
)
from segmentation.services import segments
from segmentation.services.runs import segmentation_run
from segmentation.services.settings import segmentation_settings_update
from tests.activities.factories import DealFactory, MaterialFactory
from tests.partners.factories import PartnerFactory
from tests.reps.factories import RepFactory
from tests.segmentation.handbuilt import AS_OF, REPS, add_views, add_won, segments_by_name
from web.selectors import tier_bars, tier_counts_of


def _ranks(values):
    """Average ranks (1-based), by hand: ties share the mean of their positions."""
    order = sorted(values)
    return [(order.index(v) + 1 + order.index(v) + order.count(v)) / 2 for v in values]


def _pearson(xs, ys):
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    cov = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sx = math.sqrt(sum((x - mx) ** 2 for x in xs))
    sy = math.sqrt(sum((y - my) ** 2 for y in ys))
    return cov / (sx * sy)


def _expected_statistics(names):
    xs = [REPS[n][1] for n in names]
    ys = [sum(REPS[n][2]) for n in names]
    rho = _pearson(_ranks(xs), _ranks(ys))
    n = len(names)
    t = rho * math.sqrt((n - 2) / (1 - rho**2))
    p = 2 * scipy_stats.t.sf(abs(t), n - 2)
    half = 1.96 * math.sqrt(1.06 / (n - 3))
    return rho, p, math.tanh(math.atanh(rho) - half), math.tanh(math.atanh(rho) + half)


def test_quadrants_tiers_activation_and_statistics_by_hand(data):
    run = segmentation_run(tenant=data["tenant"], as_of=AS_OF)

    assert run.status == SegmentationRun.Status.SUCCEEDED, run.error
    assert run.is_current
    seg = segments_by_name(run)
    # 14 employed reps; the rep who left is not segmented.
    assert set(seg) == set(REPS)

    # Active reps (a view in the view window, a win in the results window or a deal
    # created in the view window): all but a8 (an old open deal is not activity), a9 (a
    # view 200 days ago), a10 and b3. The 9 reps with views: 1 2 3 5 6 8 12 15 20 ->
    # median 6 (above the floor of 3), and b4's 6 is not above it. 4 reps won (a1 a2 a6
    # b4): fewer than 20, so any win is high.
    assert run.views_cutoff == Decimal(6)
    assert (run.views_cutoff_rule, run.views_cutoff_n, run.views_median) == ("median", 9, 6)
    assert run.results_cutoff == Decimal(0)
    assert (run.results_cutoff_rule, run.results_cutoff_n) == ("any", 4)
    # The median of 500,000, 1,000,000, 2,000,000, 3,000,000.
    assert run.results_median == Decimal(1_500_000)
    expected_quadrants = {
        "a1": "performer",  # 20 views, 3,000,000
        "a2": "performer",  # 12 views, 500,000
        "a3": "motivated",  # 8 views, nothing won
        "a4": "casual",  # 5 views: active, below the median; the old views do not count
        "a5": "casual",  # 3 views; the deleted 10,000,000 deal and future views do not count
        "a6": "independent",  # no views, 2,000,000
        "a7": "casual",  # 1 view; the deal closed 400 days ago and the lost deal do not count
        "a8": "dormant",  # an old open deal only
        "a9": "dormant",
        "a10": "dormant",
        "b1": "motivated",
        "b2": "casual",  # 2 views
        "b3": "dormant",
        "b4": "independent",  # 6 views (the median, not above it), 1,000,000
    }
    assert {n: s.quadrant for n, s in seg.items()} == expected_quadrants
    active = set(REPS) - {"a8", "a9", "a10", "b3"}
    assert {n for n, s in seg.items() if s.is_active} == active
    # One meaning of activity: the dormant reps are exactly the inactive ones.
    assert {n for n, s in seg.items() if s.quadrant == "dormant"} == set(REPS) - active

    # Score = 50 × (percent rank of views + percent rank of won amount) over 14 reps.
    # Partner A by score: a1 100, a2 80.8, a6 46.2, a3 38.5, a4 30.8, a5 26.9, a7 19.2,
    # then a8 a9 a10 at 0. Ten reps -> top 2, bottom 2; the three tied at the bottom all
    # go to the bottom. Partner B has 4 reps (< 5): no tiers.
    assert seg["a1"].score == pytest.approx(100)
    assert seg["a2"].score == pytest.approx((11 + 10) / 13 * 50)
    assert seg["b4"].score == pytest.approx((9 + 11) / 13 * 50)
    assert seg["a9"].score == 0
    assert {n: s.tier for n, s in seg.items()} == {
        "a1": "top",
        "a2": "top",
        "a6": "middle",
        "a3": "middle",
        "a4": "middle",
        "a5": "middle",
        "a7": "middle",
        "a8": "bottom",
        "a9": "bottom",
        "a10": "bottom",
        "b1": None,
        "b2": None,
        "b3": None,
        "b4": None,
    }

    # The figures a user reads per rep.
    assert seg["a1"].views == 20
    assert seg["a1"].distinct_materials == 2
    assert seg["a1"].won_amount == Decimal("3000000")
    assert seg["a1"].won_deals == 3
    assert seg["a8"].open_pipeline_amount == Decimal("100000")
    assert seg["a8"].open_deals == 1
    assert seg["a4"].views == 5
    assert seg["a9"].views == 0
    assert seg["a9"].last_viewed_at == AS_OF - dt.timedelta(days=200)
    assert seg["a10"].last_viewed_at is None
    assert seg["a5"].last_viewed_at == AS_OF - dt.timedelta(days=1)
    assert seg["a1"].previous_quadrant is None

    # Per partner: activation (the 1% problem as a number), keymen, won amount. The
    # won deal without a rep and the leaver's deal are no rep's result.
    partners = {p.partner.name: p for p in PartnerSegment.objects.filter(run=run)}
    a = partners["A"]
    b = partners[data["partners"]["B"].name]
    assert (a.reps, a.active_reps, a.activation_rate) == (10, 7, pytest.approx(0.7))
    assert (b.reps, b.active_reps, b.activation_rate) == (4, 3, pytest.approx(0.75))
    assert (a.performers, a.motivated, a.independents, a.casual, a.dormant) == (2, 1, 1, 3, 3)
    assert (b.performers, b.motivated, b.independents, b.casual, b.dormant) == (0, 1, 1, 1, 1)
    # B has no keyman ①: flagged, its reps with views as candidates, most views first.
    assert (a.needs_first_performer, a.first_performer_candidates) == (False, [])
    assert b.needs_first_performer
    assert b.first_performer_candidates == [data["reps"][n].pk for n in ("b1", "b4", "b2")]
    assert b.first_flagged_on == AS_OF.date() and b.days_to_first_performer is None
    assert a.won_amount == Decimal("5500000")
    assert b.won_amount == Decimal("1000000")
    assert (a.is_tiered, b.is_tiered) == (True, False)
    # A: top a1 a2, bottom a8 a9 a10 (tied), the five others middle; B is too small.
    assert (a.top_reps, a.middle_reps, a.bottom_reps) == (2, 5, 3)
    assert (b.top_reps, b.middle_reps, b.bottom_reps) == (0, 0, 0)
    assert tier_counts_of(a) == {
        "top": 2,
        "middle": 5,
        "bottom": 3,
    }
    bars = tier_bars(tenant=data["tenant"])
    assert [(r["partner_id"], r["top"], r["middle"], r["bottom"], r["total"]) for r in bars] == [
        (data["partners"]["A"].pk, 2, 5, 3, 10)
    ]
    assert (bars[0]["top_pct"], bars[0]["middle_end"]) == (20.0, 70.0)

    # Counts on the run.
    assert run.rep_count == 14
    assert run.active_rep_count == 10
    assert run.quadrant_counts == {
        "performer": 2,
        "motivated": 2,
        "independent": 2,
        "casual": 4,
        "dormant": 4,
    }
    assert run.partners_without_performer == 1
    assert run.first_performer_median_days is None
    assert run.tier_counts == {"top": 2, "middle": 5, "bottom": 3, "untiered": 4}

    # Statistics: Spearman's ρ = Pearson's r of average ranks, by hand. Tenant (n = 14)
    # and partner A (n = 10); partner B has fewer than 10 reps: none.
    rho, p, low, high = _expected_statistics(list(REPS))
    assert run.correlation_n == 14
    assert run.correlation_rho == pytest.approx(rho)
    assert run.correlation_p_value == pytest.approx(p)
    assert (run.correlation_ci_low, run.correlation_ci_high) == (
        pytest.approx(low, abs=1e-4),
        pytest.approx(high, abs=1e-4),
    )
    assert run.correlation_ci_low < run.correlation_rho < run.correlation_ci_high
    rho_a, p_a, _, _ = _expected_statistics([n for n in REPS if n.startswith("a")])
    assert a.correlation_n == 10
    assert a.correlation_rho == pytest.approx(rho_a)
    assert a.correlation_p_value == pytest.approx(p_a)
    assert b.correlation_n is None and b.correlation_rho is None

    # The settings used are kept with the run.
    assert run.settings_used["view_window_days"] == 90
    assert run.settings_used["results_measure"] == "won_amount"


def test_other_tenants_data_changes_nothing_and_is_not_listed(data, other_tenant):
    run = segmentation_run(tenant=data["tenant"], as_of=AS_OF)
    with tenant_scope(other_tenant):
        rival_run = segmentation_run(tenant=other_tenant, as_of=AS_OF)
        assert rival_run.rep_count == 12
        assert rival_run.quadrant_counts["performer"] > 0
    # The rival's run changed neither the acme run nor what acme reads.
    run.refresh_from_db()
    assert run.is_current and rival_run.is_current
    assert run.rep_count == 14
    assert segmentation_current_run(tenant=data["tenant"]) == run
    listed = rep_segments_current(tenant=data["tenant"])
    assert {s.rep.name for s in listed} == set(REPS)
    # What the partner-segments API lists: the scoped manager's current-run rows.
    current = PartnerSegment.objects.filter(run__is_current=True)
    assert {s.tenant_id for s in current} == {data["tenant"].pk}
    assert len(segment_scatter_points(tenant=data["tenant"])) == 14


def test_partner_won_amounts_are_exact_to_the_cent(in_tenant):
    partner = PartnerFactory(tenant=in_tenant)
    first = RepFactory(tenant=in_tenant, partner=partner)
    second = RepFactory(tenant=in_tenant, partner=partner)
    for amount in ("1234567890123.45", "0.10", "0.20"):
        add_won(first, Decimal(amount))
    add_won(second, Decimal("-0.35"))  # a credit note: amounts may be negative
    run = segmentation_run(tenant=in_tenant, as_of=AS_OF)

    figures = PartnerSegment.objects.get(run=run, partner=partner)
    assert figures.won_amount == Decimal("1234567890123.40")
    assert figures.won_deals == 4
    assert RepSegment.objects.get(run=run, rep=first).won_amount == Decimal("1234567890123.75")


def test_rep_won_and_open_amounts_are_integer_sums_of_cents(in_tenant):
    """Each deal counts in hundredths and the sums are integer sums, exact on both
    backends. SQLite holds the amounts as floats (0.57 × 100 is 56.999…), so each is
    rounded to its cents before the sum, not truncated."""
    partner = PartnerFactory(tenant=in_tenant)
    rep = RepFactory(tenant=in_tenant, partner=partner)
    for amount in ("1234567890.29", "0.57", "0.29", *["0.01"] * 20, "-0.07"):
        add_won(rep, Decimal(amount))
    for amount in ("987654321.57", *["0.29"] * 30):
        DealFactory(tenant=in_tenant, rep=rep, partner=partner, amount=Decimal(amount))
    run = segmentation_run(tenant=in_tenant, as_of=AS_OF)

    segment = RepSegment.objects.get(run=run, rep=rep)
    assert segment.won_amount == Decimal("1234567891.28")
    assert segment.won_deals == 24
    assert segment.open_pipeline_amount == Decimal("987654330.27")
    assert segment.open_deals == 31
    assert PartnerSegment.objects.get(run=run, partner=partner).won_amount == Decimal(
        "1234567891.28"
    )


def test_movement_from_the_previous_run_is_visible(data):
    first = segmentation_run(tenant=data["tenant"], as_of=AS_OF)
    # a3 (motivated) closes a first deal; a new rep joins partner A.
    add_won(data["reps"]["a3"], 300_000, days_ago=0)
    newcomer = RepFactory(tenant=data["tenant"], partner=data["partners"]["A"], name="new")
    second = segmentation_run(tenant=data["tenant"], as_of=AS_OF + dt.timedelta(days=1))

    first.refresh_from_db()
    assert second.is_current and not first.is_current
    seg = segments_by_name(second)
    assert (seg["a3"].previous_quadrant, seg["a3"].quadrant) == ("motivated", "performer")
    assert seg["a3"].moved
    assert (seg["a1"].previous_quadrant, seg["a1"].quadrant) == ("performer", "performer")
    assert seg["a1"].previous_tier == "top"
    assert seg["new"].previous_quadrant is None and not seg["new"].moved
    history = list(rep_segment_history(tenant=data["tenant"], rep_id=data["reps"]["a3"].pk))
    assert [(h.run_id, h.quadrant) for h in history] == [
        (second.pk, "performer"),
        (first.pk, "motivated"),
    ]
    assert newcomer.pk in {s.rep_id for s in rep_segments_current(tenant=data["tenant"])}


def test_no_activity_at_all_is_dormant_and_never_high(in_tenant):
    partner = PartnerFactory(tenant=in_tenant)
    RepFactory.create_batch(6, tenant=in_tenant, partner=partner)
    run = segmentation_run(tenant=in_tenant, as_of=AS_OF)
    assert run.status == SegmentationRun.Status.SUCCEEDED, run.error
    assert run.quadrant_counts == {
        "performer": 0,
        "motivated": 0,
        "independent": 0,
        "casual": 0,
        "dormant": 6,
    }
    # Everyone ties at zero: nobody is top, everybody shares the bottom.
    assert run.tier_counts == {"top": 0, "middle": 0, "bottom": 6, "untiered": 0}
    # No rep viewed anything: the floor is the cut-off, and says why.
    assert (run.views_cutoff, run.views_cutoff_rule, run.views_cutoff_n) == (3, "floor", 0)
    assert run.views_median is None and run.correlation_rho is None
    assert run.active_rep_count == 0


def test_threshold_rules_and_won_deal_count(data):
    segmentation_settings_update(
        tenant=data["tenant"],
        results_measure="won_deals",
        views_high_rule="threshold",
        views_threshold=12,
        results_high_rule="threshold",
        results_threshold=Decimal(2),
        tier_measure="views",
        min_reps_for_tiers=4,
    )
    run = segmentation_run(tenant=data["tenant"], as_of=AS_OF)
    seg = segments_by_name(run)
    # High views: at least 12 (a1 20, b1 15, a2 12). High results: at least 2 won deals (a1).
    assert {n for n, s in seg.items() if s.quadrant == "performer"} == {"a1"}
    assert {n for n, s in seg.items() if s.quadrant == "motivated"} == {"b1", "a2"}
    assert {n for n, s in seg.items() if s.quadrant == "independent"} == set()
    assert run.views_cutoff == 12 and run.results_cutoff == 2
    # Tiers by views; B now has enough reps (4 >= 4) but 4 // 5 = 0: everyone middle.
    assert {seg[n].tier for n in ("b1", "b2", "b3", "b4")} == {"middle"}
    # A by views: 20, 12 top; the four zero-view reps (a6 a8 a9 a10) tie at the bottom.
    assert {n for n, s in seg.items() if s.tier == "top"} == {"a1", "a2"}
    assert {n for n, s in seg.items() if s.tier == "bottom"} == {"a6", "a8", "a9", "a10"}
    assert run.settings_used["results_measure"] == "won_deals"
    assert run.settings_used["results_threshold"] == "2.00"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL planner setting")
def test_the_aggregates_run_without_plain_index_scans(data, monkeypatch):
    """The views aggregate must not be planned as an index walk in rep order (measured
    2.6x slower); the setting is local to the statement that needs it."""
    seen = []
    real = segments.without_index_scans

    @contextlib.contextmanager
    def spy():
        with real():
            with connection.cursor() as cursor:
                cursor.execute("SELECT current_setting('enable_indexscan')")
                seen.append(cursor.fetchone()[0])
            yield

    monkeypatch.setattr(segments, "without_index_scans", spy)
    run = segmentation_run(tenant=data["tenant"], as_of=AS_OF)
    assert run.status == SegmentationRun.Status.SUCCEEDED
    assert seen == ["off"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('enable_indexscan')")
        assert cursor.fetchone()[0] == "on"


@pytest.mark.parametrize("seed", range(4))
def test_the_score_is_the_mean_percent_rank_of_views_and_results(in_tenant, seed):
    """Score = 50 × (percent rank by views + percent rank by results), ties sharing the
    lowest rank (as PERCENT_RANK does), against SciPy's ranks of the same figures."""
    import random

    rng = random.Random(seed)
    partner = PartnerFactory(tenant=in_tenant)
    material = MaterialFactory(tenant=in_tenant)
    reps = [RepFactory(tenant=in_tenant, partner=partner) for _ in range(rng.randint(1, 14))]
    figures = {}
    for rep in reps:
        views = rng.choice([0, 0, 1, 2, 2, 5])
        amount = rng.choice([None, 500, 500, 1_000, 2_500])
        add_views(rep, material, views)
        if amount:
            add_won(rep, amount)
        figures[rep.pk] = (views, amount or 0)
    run = segmentation_run(tenant=in_tenant, as_of=AS_OF)
    assert run.status == SegmentationRun.Status.SUCCEEDED, run.error
    ids = list(figures)
    n = len(ids)

    def percent_ranks(values):
        ranks = scipy_stats.rankdata(values, method="min")
        return [(r - 1) / (n - 1) if n > 1 else 0.0 for r in ranks]

    by_views = percent_ranks([figures[i][0] for i in ids])
    by_results = percent_ranks([figures[i][1] for i in ids])
    scores = dict(RepSegment.objects.filter(run=run).values_list("rep_id", "score"))
    for i, rep_id in enumerate(ids):
        assert scores[rep_id] == pytest.approx((by_views[i] + by_results[i]) * 50), rep_id
