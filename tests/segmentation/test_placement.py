"""Where each rep falls (cut-offs, quadrant, score, tier) against a plain Python reading of
the rules, rep by rep: the NumPy functions of ``segmentation.services.quadrants`` on random
figures full of ties, and whole runs on random data, whose stored segments are checked
against figures the test itself summed."""

from __future__ import annotations

import datetime as dt
import random
import statistics
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segmentation.cutoffs import AxisStats, Cutoff, choose_results_cutoff, choose_views_cutoff
from segmentation.models import Quadrant, RepSegment, SegmentationRun, SegmentationSettings, Tier
from segmentation.selectors import segmentation_settings_get
from segmentation.services.quadrants import axis_stats, high, quadrants, scores, tiers
from segmentation.services.runs import segmentation_run
from segmentation.services.settings import segmentation_settings_update
from segmentation.services.statistics import QUADRANT_CODES, TIER_CODES
from tests.activities.factories import MaterialFactory
from tests.partners.factories import PartnerFactory
from tests.reps.factories import RepFactory
from tests.segmentation.handbuilt import AS_OF, add_views, add_won

# --- the rules, rep by rep --------------------------------------------------------------


def tier_by_hand(measures: list, me: int, min_reps: int) -> str | None:
    """The tier of ``measures[me]`` among its partner's ``measures``: the SQL definition
    (RANK() descending for the top, ascending for the bottom, n // 5 of each)."""
    n = len(measures)
    if n < min_reps:
        return None
    mine = measures[me]
    rank_down = 1 + sum(m > mine for m in measures)
    rank_up = 1 + sum(m < mine for m in measures)
    if mine > 0 and rank_down <= n // 5:
        return Tier.TOP
    if rank_up <= n // 5:
        return Tier.BOTTOM
    return Tier.MIDDLE


def score_by_hand(views: list, results: list, me: int) -> float:
    n = len(views)
    if n <= 1:
        return 0.0
    below_v = sum(v < views[me] for v in views)
    below_r = sum(r < results[me] for r in results)
    return (below_v / (n - 1) + below_r / (n - 1)) * 50.0


def stats_by_hand(values: list[Decimal]) -> AxisStats:
    positive = [v for v in values if v > 0]
    if not positive:
        return AxisStats(0, None, None)
    return AxisStats(len(positive), Decimal(statistics.median(positive)), max(positive))


def high_by_hand(value: Decimal, cutoff: Cutoff) -> bool:
    return (
        value > Decimal(repr(cutoff.above))
        and value >= Decimal(repr(cutoff.at_least))
        and value > 0
    )


def quadrant_by_hand(views_high: bool, results_high: bool, active: bool) -> str:
    if views_high and results_high:
        return Quadrant.PERFORMER
    if views_high:
        return Quadrant.MOTIVATED
    if results_high:
        return Quadrant.INDEPENDENT
    return Quadrant.CASUAL if active else Quadrant.DORMANT


# --- the NumPy functions ----------------------------------------------------------------

small = st.integers(0, 6)  # few distinct values: many ties


@settings(max_examples=300, deadline=None, database=None)
@given(
    reps=st.lists(st.tuples(st.integers(0, 3), small, st.floats(0, 3).map(round)), max_size=40),
    min_reps=st.integers(1, 12),
)
def test_tiers_follow_the_ranks_inside_each_partner(reps, min_reps):
    partner = np.array([p for p, _, _ in reps], dtype=np.int64)
    for measure in (
        np.array([m for _, m, _ in reps], dtype=np.int64),
        np.array([f for _, _, f in reps], dtype=float),
    ):
        found = tiers(partner=partner, measure=measure, min_reps=min_reps)
        for i in range(len(reps)):
            peers = [j for j in range(len(reps)) if partner[j] == partner[i]]
            expected = tier_by_hand([measure[j] for j in peers], peers.index(i), min_reps=min_reps)
            assert found[i] == TIER_CODES[expected], (i, reps)


@settings(max_examples=300, deadline=None, database=None)
@given(figures=st.lists(st.tuples(small, small), max_size=30))
def test_scores_are_the_mean_percent_rank_by_hand(figures):
    views = [v for v, _ in figures]
    results = [r for _, r in figures]
    found = scores(np.array(views, dtype=np.int64), np.array(results, dtype=np.int64))
    assert found.tolist() == [score_by_hand(views, results, i) for i in range(len(figures))]


@settings(max_examples=300, deadline=None, database=None)
@given(
    cents=st.lists(st.integers(-500, 500_000), max_size=25),
    above=st.sampled_from([0.0, 0.5, 1.0, 12.34, 12.345, 12.35, 999.99, 1234.5]),
    at_least=st.sampled_from([0.0, 0.01, 12.34, 100.0]),
)
def test_axis_statistics_and_high_are_exact_in_hundredths(cents, above, at_least):
    values = np.array(cents, dtype=np.int64)
    amounts = [Decimal(c) / 100 for c in cents]
    assert axis_stats(values, 100) == stats_by_hand(amounts)
    cutoff = Cutoff("median", Decimal(0), 0, None, above, at_least)
    assert high(values, cutoff, 100).tolist() == [high_by_hand(a, cutoff) for a in amounts]


def test_quadrants_by_hand():
    flags = [(v, r, a) for v in (False, True) for r in (False, True) for a in (False, True)]
    found = quadrants(
        views_high=np.array([v for v, _, _ in flags]),
        results_high=np.array([r for _, r, _ in flags]),
        active=np.array([a for _, _, a in flags]),
    )
    assert found.tolist() == [QUADRANT_CODES[quadrant_by_hand(*f)] for f in flags]


# --- whole runs -------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("seed", range(4))
def test_a_run_writes_what_the_rules_give_rep_by_rep(in_tenant, other_tenant, seed):
    """Random reps of three partners, with ties on both axes and amounts in cents; each
    stored segment (figures, quadrant, tier, score and the previous run's placement) is
    checked against the test's own sums and the rules above."""
    rng = random.Random(seed)
    measure = [
        (SegmentationSettings.ResultsMeasure.WON_AMOUNT, SegmentationSettings.TierMeasure.SCORE),
        (SegmentationSettings.ResultsMeasure.WON_DEALS, SegmentationSettings.TierMeasure.VIEWS),
        (SegmentationSettings.ResultsMeasure.WON_AMOUNT, SegmentationSettings.TierMeasure.RESULTS),
        (SegmentationSettings.ResultsMeasure.WON_DEALS, SegmentationSettings.TierMeasure.RESULTS),
    ][seed]
    segmentation_settings_update(
        tenant=in_tenant,
        results_measure=measure[0],
        tier_measure=measure[1],
        min_reps_for_tiers=5,
        results_median_min_reps=3,
        views_floor=2,
    )
    material = MaterialFactory(tenant=in_tenant)
    partners = [PartnerFactory(tenant=in_tenant) for _ in range(3)]
    figures = {}  # rep id: (partner id, views, won amount, won deals)
    for _ in range(rng.randint(8, 26)):
        rep = RepFactory(tenant=in_tenant, partner=rng.choice(partners))
        views = rng.choice([0, 0, 1, 2, 2, 3, 5, 8])
        wins = rng.choice([[], [], [Decimal("500.25")], [Decimal("1000.10")], [500, 500.25]])
        add_views(rep, material, views)
        for amount in wins:
            add_won(rep, Decimal(str(amount)))
        figures[rep.pk] = (rep.partner_id, views, sum(map(Decimal, map(str, wins))), len(wins))
    # Another tenant's busy reps change nothing.
    rival = RepFactory(tenant=other_tenant, partner=PartnerFactory(tenant=other_tenant))
    add_views(rival, MaterialFactory(tenant=other_tenant), 9)

    first = segmentation_run(tenant=in_tenant, as_of=AS_OF - dt.timedelta(days=1))
    run = segmentation_run(tenant=in_tenant, as_of=AS_OF)
    assert run.status == SegmentationRun.Status.SUCCEEDED, run.error

    config = segmentation_settings_get(tenant=in_tenant)
    ids = sorted(figures)
    views = [figures[i][1] for i in ids]
    amounts = [figures[i][2] for i in ids]
    deals = [figures[i][3] for i in ids]
    results = deals if measure[0] == SegmentationSettings.ResultsMeasure.WON_DEALS else amounts
    views_cut = choose_views_cutoff(config=config, stats=stats_by_hand(list(map(Decimal, views))))
    results_cut = choose_results_cutoff(
        config=config, stats=stats_by_hand(list(map(Decimal, results)))
    )
    assert (run.views_cutoff, run.results_cutoff) == (views_cut.value, results_cut.value)
    score = [score_by_hand(views, results, i) for i in range(len(ids))]
    tier_measure = {"views": views, "results": results}.get(measure[1], score)
    previous = dict(RepSegment.objects.filter(run=first).values_list("rep_id", "quadrant"))
    stored = {s.rep_id: s for s in RepSegment.objects.filter(run=run)}
    assert sorted(stored) == ids
    for i, rep_id in enumerate(ids):
        segment = stored[rep_id]
        peers = [j for j in range(len(ids)) if figures[ids[j]][0] == figures[rep_id][0]]
        active = views[i] > 0 or deals[i] > 0
        expected = {
            "partner_id": figures[rep_id][0],
            "views": views[i],
            "won_amount": amounts[i],
            "won_deals": deals[i],
            "is_active": active,
            "quadrant": quadrant_by_hand(
                high_by_hand(Decimal(views[i]), views_cut),
                high_by_hand(Decimal(results[i]), results_cut),
                active,
            ),
            "tier": tier_by_hand([tier_measure[j] for j in peers], peers.index(i), 5),
            "score": score[i],
            "previous_quadrant": previous[rep_id],
        }
        assert {key: getattr(segment, key) for key in expected} == expected, rep_id
