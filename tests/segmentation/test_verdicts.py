"""Keyman verdicts that hold on real data: one meaning of activity, cut-offs that never
collapse, the first-performer playbook and the time it takes.

The hand-built set below is worked out by hand in the comments; the property test
generates data and checks the invariants on every run.
"""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from activities.models import Deal, MaterialView
from segmentation.cutoffs import cutoff_line, describe_results_cutoff, describe_views_cutoff
from segmentation.models import PartnerSegment, SegmentationRun
from segmentation.services.runs import segmentation_run
from segmentation.services.settings import segmentation_settings_update
from tests.activities.factories import DealFactory, MaterialFactory
from tests.partners.factories import PartnerFactory
from tests.reps.factories import RepFactory
from tests.segmentation.handbuilt import AS_OF, AS_OF_DATE, add_views, add_won, segments_by_name

pytestmark = pytest.mark.django_db

_ids = itertools.count()


def _deal(rep, *, created_days_ago, won_days_ago=None, lost=False, amount=1_000_000, **extra):
    """A deal of ``rep`` created ``created_days_ago`` before the as-of moment; won (closed
    ``won_days_ago`` before the as-of day), lost, or open."""
    closed = won_days_ago is not None or lost
    return DealFactory(
        tenant=rep.tenant,
        rep=rep,
        partner=rep.partner,
        amount=amount,
        is_closed=closed,
        is_won=won_days_ago is not None,
        stage="Closed Won" if won_days_ago is not None else ("Closed Lost" if lost else "Proposal"),
        close_date=AS_OF_DATE - dt.timedelta(days=won_days_ago or 3) if closed else None,
        sf_created_at=AS_OF - dt.timedelta(days=created_days_ago),
        **extra,
    )


# --- a set where the median of the active reps' views is zero ------------------------


@pytest.fixture
def mostly_deals(in_tenant):
    """14 reps of one partner. Five read (1, 2, 9, 12 and 30 views); three won without
    reading; four only opened a deal in the window; one holds an old open deal; one did
    nothing. Twelve are active, seven of them with no view: the median of the active
    reps' views is 0 (the old rule made the rep with one view "motivated")."""
    partner = PartnerFactory(tenant=in_tenant, name="P")
    deck = MaterialFactory(tenant=in_tenant)
    reps = {}

    def rep(name):
        reps[name] = RepFactory(tenant=in_tenant, partner=partner, name=name)
        return reps[name]

    for name, views in (("v1", 1), ("v2", 2), ("v3", 9), ("v4", 12), ("v5", 30)):
        add_views(rep(name), deck, views)
    add_won(reps["v4"], 3_000_000)
    for name, amount in (("w1", 1_000_000), ("w2", 500_000), ("w3", 2_000_000)):
        add_won(rep(name), amount)
    _deal(rep("c1"), created_days_ago=10)
    _deal(rep("c2"), created_days_ago=20, lost=True)
    _deal(rep("c3"), created_days_ago=5)
    _deal(rep("c4"), created_days_ago=40)
    _deal(rep("o1"), created_days_ago=300)  # an old open deal: not activity
    rep("z1")
    return {"tenant": in_tenant, "partner": partner, "reps": reps}


def _quadrants(run):
    return {name: s.quadrant for name, s in segments_by_name(run).items()}


def test_the_views_cut_off_separates_where_the_median_of_active_reps_is_zero(mostly_deals):
    run = segmentation_run(tenant=mostly_deals["tenant"], as_of=AS_OF)
    assert run.status == SegmentationRun.Status.SUCCEEDED, run.error
    # The median of the five reps with views (1 2 9 12 30) is 9: more than 9 is high.
    assert (run.views_cutoff, run.views_cutoff_rule, run.views_cutoff_n) == (9, "median", 5)
    # Four reps won (v4 w1 w2 w3), fewer than 20: any win is high.
    assert (run.results_cutoff_rule, run.results_cutoff_n) == ("any", 4)
    assert _quadrants(run) == {
        "v1": "casual",  # one view: a casual look, not keyman ②
        "v2": "casual",
        "v3": "casual",  # 9 views: at the median, not above it
        "v4": "performer",
        "v5": "motivated",
        "w1": "independent",
        "w2": "independent",
        "w3": "independent",
        "c1": "casual",  # active by a deal created in the window: never dormant
        "c2": "casual",
        "c3": "casual",
        "c4": "casual",
        "o1": "dormant",
        "z1": "dormant",
    }
    assert run.active_rep_count == 12
    assert describe_views_cutoff(run) == (
        "Views cut-off 9: the median of the 5 reps who viewed anything (more is high)"
    )
    assert describe_results_cutoff(run) == "Results cut-off: any win (only 4 reps won)"


def test_the_floor_decides_when_the_median_is_below_it(mostly_deals):
    segmentation_settings_update(tenant=mostly_deals["tenant"], views_floor=13)
    run = segmentation_run(tenant=mostly_deals["tenant"], as_of=AS_OF)
    # The median (9) is below the floor (13): at least 13 views is high, only v5's 30.
    assert (run.views_cutoff, run.views_cutoff_rule, run.views_median) == (13, "floor", 9)
    quadrants = _quadrants(run)
    assert quadrants["v5"] == "motivated" and quadrants["v4"] == "independent"
    assert describe_views_cutoff(run) == (
        "Views cut-off 13: the floor, the fewest views that count as motivated"
        " (the median of the 5 reps who viewed anything is 9)"
    )
    assert run.settings_used["views_floor"] == 13


def test_the_floor_decides_when_every_reader_ties(in_tenant):
    partner = PartnerFactory(tenant=in_tenant)
    deck = MaterialFactory(tenant=in_tenant)
    for _ in range(4):
        add_views(RepFactory(tenant=in_tenant, partner=partner), deck, 4)
    run = segmentation_run(tenant=in_tenant, as_of=AS_OF)
    # Median 4 = the most anyone read: "more than the median" would leave no one high.
    assert (run.views_cutoff, run.views_cutoff_rule) == (3, "floor")
    assert run.quadrant_counts["motivated"] == 4
    assert "none of the 4 reps who viewed anything viewed more than their median, 4" in (
        describe_views_cutoff(run)
    )


def test_the_results_median_applies_from_the_settable_number_of_reps(mostly_deals):
    tenant = mostly_deals["tenant"]
    segmentation_settings_update(tenant=tenant, results_median_min_reps=4)
    run = segmentation_run(tenant=tenant, as_of=AS_OF)
    # Four reps won 500,000 / 1,000,000 / 2,000,000 / 3,000,000: median 1,500,000.
    assert (run.results_cutoff, run.results_cutoff_rule, run.results_cutoff_n) == (
        Decimal(1_500_000),
        "median",
        4,
    )
    quadrants = _quadrants(run)
    assert quadrants["w3"] == "independent" and quadrants["v4"] == "performer"
    assert quadrants["w1"] == quadrants["w2"] == "casual"  # won, but not more than the median
    assert describe_results_cutoff(run) == (
        "Results cut-off ¥1,500,000: the median of the 4 reps who won (more is high)"
    )
    # One more rep needed than have results: any win again.
    segmentation_settings_update(tenant=tenant, results_median_min_reps=5)
    again = segmentation_run(tenant=tenant, as_of=AS_OF + dt.timedelta(hours=1))
    assert again.results_cutoff_rule == "any" and _quadrants(again)["w1"] == "independent"


def test_the_results_median_gives_way_to_any_win_when_every_winner_ties(in_tenant):
    partner = PartnerFactory(tenant=in_tenant)
    for _ in range(3):
        add_won(RepFactory(tenant=in_tenant, partner=partner), 1_000)
    RepFactory(tenant=in_tenant, partner=partner)
    segmentation_settings_update(
        tenant=in_tenant, results_measure="won_deals", results_median_min_reps=2
    )
    run = segmentation_run(tenant=in_tenant, as_of=AS_OF)
    # Each winner won one deal: the median is the most anyone won.
    assert (run.results_cutoff_rule, run.results_cutoff_n) == ("any", 3)
    assert run.quadrant_counts["independent"] == 3
    assert describe_results_cutoff(run) == (
        "Results cut-off: any win (none of the 3 reps who won won more than their median, 1)"
    )


def test_settings_validate_the_floor_and_the_minimum(in_tenant):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as error:
        segmentation_settings_update(tenant=in_tenant, views_floor=0, results_median_min_reps=0)
    assert set(error.value.message_dict) == {"views_floor", "results_median_min_reps"}


@pytest.mark.parametrize(
    ("rule", "value", "whole", "smallest", "expected"),
    [
        ("median", 31, True, None, 31.5),  # more than 31 views: between 31 and 32
        ("median", 4.5, True, None, 4.5),
        ("floor", 3, True, None, 2.5),  # at least 3: between 2 and 3
        ("threshold", 10, True, None, 9.5),
        ("any", 0, True, None, 0.5),  # any won deal: between 0 and 1, not on the axis
        ("any", 0, False, 120_000.0, 60_000.0),  # any amount: half-way to the smallest win
        ("any", 0, False, None, None),  # nobody won: nothing to separate
        ("median", 1_500_000, False, 500_000.0, 1_500_000.0),
        ("", None, True, None, None),
    ],
)
def test_the_scatter_draws_each_cut_off_between_low_and_high(
    rule, value, whole, smallest, expected
):
    assert cutoff_line(rule=rule, value=value, whole=whole, smallest_high=smallest) == expected


# --- the first-performer playbook ----------------------------------------------------


def test_a_partner_without_keyman_1_gets_its_most_motivated_reps_as_candidates(in_tenant):
    flagged = PartnerFactory(tenant=in_tenant, name="Flagged")
    selling = PartnerFactory(tenant=in_tenant, name="Selling")
    deck = MaterialFactory(tenant=in_tenant)
    reps = {}
    # (views, days ago of the last view): r3 and r4 tie on views, r4 read last.
    for name, views, last in (
        ("r1", 2, 1),
        ("r2", 25, 3),
        ("r3", 7, 5),
        ("r4", 7, 2),
        ("r5", 1, 1),
        ("r6", 4, 1),
        ("r7", 3, 1),
    ):
        reps[name] = RepFactory(tenant=in_tenant, partner=flagged, name=name)
        add_views(reps[name], deck, views, days_ago=last)
    RepFactory(tenant=in_tenant, partner=flagged, name="idle")  # no views: no candidate
    leaver = RepFactory(tenant=in_tenant, partner=flagged, name="left", is_employed=False)
    add_views(leaver, deck, 90)  # left the partner: not segmented, no candidate
    star = RepFactory(tenant=in_tenant, partner=selling, name="star")
    add_views(star, deck, 40)
    add_won(star, 9_000_000)
    RepFactory(tenant=in_tenant, partner=selling)

    run = segmentation_run(tenant=in_tenant, as_of=AS_OF)
    rows = {p.partner.name: p for p in PartnerSegment.objects.filter(run=run)}
    assert rows["Flagged"].needs_first_performer
    # Most views first; the tie on 7 views goes to the latest view; five at most.
    assert rows["Flagged"].first_performer_candidates == [
        reps[n].pk for n in ("r2", "r4", "r3", "r6", "r7")
    ]
    assert not rows["Selling"].needs_first_performer
    assert rows["Selling"].first_performer_candidates == []
    assert run.partners_without_performer == 1


def _run_on(tenant, day: int) -> SegmentationRun:
    run = segmentation_run(tenant=tenant, as_of=AS_OF + dt.timedelta(days=day))
    assert run.status == SegmentationRun.Status.SUCCEEDED, run.error
    return run


def test_the_days_from_flagged_to_a_first_performer(in_tenant):
    deck = MaterialFactory(tenant=in_tenant)
    partners, hopefuls = {}, {}
    for name in ("slow", "quick", "born", "never"):
        partners[name] = PartnerFactory(tenant=in_tenant, name=name)
        hopefuls[name] = RepFactory(tenant=in_tenant, partner=partners[name])
        add_views(hopefuls[name], deck, 20, days_ago=0.5)
    add_won(hopefuls["born"], 1_000_000)  # a performer from the first run: never flagged

    _run_on(in_tenant, 0)
    add_won(hopefuls["quick"], 500_000, days_ago=-6)  # wins before the run on day 7
    _run_on(in_tenant, 7)
    add_won(hopefuls["slow"], 500_000, days_ago=-13)
    third = _run_on(in_tenant, 14)
    # Runs go on: the days stay those of the first keyman ①.
    fourth = _run_on(in_tenant, 21)

    for run in (third, fourth):
        rows = {p.partner.name: p for p in PartnerSegment.objects.filter(run=run)}
        assert rows["slow"].days_to_first_performer == 14
        assert rows["quick"].days_to_first_performer == 7
        assert rows["quick"].first_flagged_on == AS_OF_DATE
        assert rows["quick"].first_performer_on == AS_OF_DATE + dt.timedelta(days=7)
        assert rows["born"].first_flagged_on is None
        assert rows["born"].days_to_first_performer is None
        assert rows["never"].needs_first_performer
        assert rows["never"].days_to_first_performer is None
        # The median over the partners that gained one: (7 + 14) / 2.
        assert (run.first_performer_median_days, run.first_performer_partners) == (10.5, 2)
        assert run.partners_without_performer == 1


def test_a_run_as_of_an_earlier_moment_does_not_inherit_the_days(in_tenant):
    partner = PartnerFactory(tenant=in_tenant)
    rep = RepFactory(tenant=in_tenant, partner=partner)
    add_views(rep, MaterialFactory(tenant=in_tenant), 10)
    _run_on(in_tenant, 7)
    earlier = _run_on(in_tenant, 0)
    row = PartnerSegment.objects.get(run=earlier)
    assert row.first_flagged_on == AS_OF_DATE  # its own as-of day, not the newer run's


# --- the invariant, on generated data ------------------------------------------------

# Per rep: views in the window, views before it, and deals, each as (kind, amount).
DEAL_KINDS = ("won_recent", "won_old", "open_new", "open_old", "lost_new", "deleted_new")


@st.composite
def worlds(draw):
    reps = draw(
        st.lists(
            st.tuples(
                st.integers(0, 1),  # partner
                st.integers(0, 7),  # views in the window
                st.integers(0, 2),  # views before the window
                st.lists(
                    st.tuples(
                        st.sampled_from(DEAL_KINDS),
                        st.sampled_from([0, 1, 500, 1_000, 2_500, -300]),
                    ),
                    max_size=3,
                ),
            ),
            min_size=1,
            max_size=9,
        )
    )
    config = {
        "views_floor": draw(st.integers(1, 5)),
        "results_median_min_reps": draw(st.integers(1, 4)),
        "results_measure": draw(st.sampled_from(["won_amount", "won_deals"])),
        "views_high_rule": draw(st.sampled_from(["median", "median", "threshold"])),
        "results_high_rule": draw(st.sampled_from(["median", "median", "threshold"])),
    }
    return reps, config


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
@given(world=worlds())
def test_no_rep_is_ever_active_and_dormant(in_tenant, world):
    reps_spec, config = world
    with transaction.atomic():
        segmentation_settings_update(tenant=in_tenant, **config)
        partners = [PartnerFactory(tenant=in_tenant) for _ in range(2)]
        deck = MaterialFactory(tenant=in_tenant)
        expected_active = {}
        views, deals = [], []
        for partner_index, recent, old, rep_deals in reps_spec:
            rep = RepFactory(tenant=in_tenant, partner=partners[partner_index])
            for i in range(recent + old):
                days = 1 + i if i < recent else 120 + i
                views.append(
                    MaterialView(
                        tenant=in_tenant,
                        rep=rep,
                        material=deck,
                        viewed_at=AS_OF - dt.timedelta(days=days),
                        event_id=f"prop-{next(_ids)}",
                    )
                )
            counted = False
            for kind, amount in rep_deals:
                won = kind.startswith("won")
                recent_deal = kind.endswith("new") or kind == "won_recent"
                deals.append(
                    Deal(
                        tenant=in_tenant,
                        rep=rep,
                        partner=rep.partner,
                        sf_id=f"006{next(_ids):015d}",
                        name="d",
                        amount=amount,
                        amount_corporate=amount,  # JPY, the corporate currency
                        currency="JPY",
                        stage="x",
                        is_closed=not kind.startswith("open"),
                        is_won=won,
                        is_deleted=kind == "deleted_new",
                        close_date=AS_OF_DATE - dt.timedelta(days=400 if kind == "won_old" else 5),
                        sf_created_at=AS_OF - dt.timedelta(days=30 if recent_deal else 500),
                        system_modstamp=AS_OF,
                    )
                )
                # Active: a win in the results window, or a deal created in the view window.
                counted |= kind == "won_recent" or kind in ("open_new", "lost_new")
            expected_active[rep.pk] = recent > 0 or counted
        MaterialView.objects.bulk_create(views)
        Deal.objects.bulk_create(deals)
        run = segmentation_run(tenant=in_tenant, as_of=AS_OF)
        assert run.status == SegmentationRun.Status.SUCCEEDED, run.error
        segments = list(run.rep_segments.all())
        for seg in segments:
            assert seg.is_active == expected_active[seg.rep_id]
            # The invariant: dormant means not active, and every inactive rep is dormant.
            assert (seg.quadrant == "dormant") == (not seg.is_active), seg
            results = seg.won_deals if config["results_measure"] == "won_deals" else seg.won_amount
            high_views = seg.quadrant in ("performer", "motivated")
            high_results = seg.quadrant in ("performer", "independent")
            if config["views_high_rule"] == "median" and high_views:
                assert seg.views >= config["views_floor"] and seg.views > 0
            if high_results:
                assert results > 0
        # The cut-offs never collapse: high exists wherever someone clears the floor / won.
        if config["views_high_rule"] == "median" and any(
            s.views >= config["views_floor"] for s in segments
        ):
            assert any(s.quadrant in ("performer", "motivated") for s in segments)
        if config["results_high_rule"] == "median" and any(
            (s.won_deals if config["results_measure"] == "won_deals" else s.won_amount) > 0
            for s in segments
        ):
            assert any(s.quadrant in ("performer", "independent") for s in segments)
        # The activation rate and the quadrant counts read the same activity.
        assert run.active_rep_count == run.rep_count - run.quadrant_counts["dormant"]
        for figures in PartnerSegment.objects.filter(run=run):
            assert figures.active_reps == figures.reps - figures.dormant
        transaction.set_rollback(True)
