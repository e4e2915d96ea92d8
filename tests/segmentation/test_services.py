"""The segmentation engine against a small hand-built data set.

Every expected quadrant, tier, activation rate and statistic below is worked out by hand
in the comments, from the data the fixture builds.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import threading
import zoneinfo
from decimal import Decimal

import pytest
from django.db import connection
from scipy import stats as scipy_stats

from pse_crm.tenancy import tenant_scope
from segmentation.models import PartnerSegment, RepSegment, SegmentationRun
from segmentation.selectors import (
    partner_segments_current,
    rep_segment_history,
    rep_segments_current,
    segment_scatter_points,
    segmentation_current_run,
)
from segmentation.services import engine as service
from segmentation.services.engine import (
    segmentation_nightly,
    segmentation_run,
    segmentation_runs_prune,
    segmentation_settings_update,
)
from tests.activities.factories import DealFactory, MaterialFactory, MaterialViewFactory
from tests.partners.factories import PartnerFactory
from tests.reps.factories import RepFactory
from web.selectors import partner_tier_counts, tier_bars

TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")
AS_OF = dt.datetime(2026, 11, 20, 3, 0, tzinfo=TOKYO)
AS_OF_DATE = AS_OF.date()

# name: (partner, views in the 90-day window, won amounts closed in the 365-day window)
REPS = {
    "a1": ("A", 20, [1_000_000, 1_000_000, 1_000_000]),
    "a2": ("A", 12, [500_000]),
    "a3": ("A", 8, []),
    "a4": ("A", 5, []),
    "a5": ("A", 3, []),
    "a6": ("A", 0, [2_000_000]),
    "a7": ("A", 1, []),
    "a8": ("A", 0, []),  # an open deal only: active, but dormant
    "a9": ("A", 0, []),  # one view 200 days ago: inactive
    "a10": ("A", 0, []),
    "b1": ("B", 15, []),
    "b2": ("B", 2, []),
    "b3": ("B", 0, []),
    "b4": ("B", 6, [1_000_000]),
}


def _views(rep, material, count, *, days_ago=1.0):
    for i in range(count):
        MaterialViewFactory(
            tenant=rep.tenant,
            rep=rep,
            material=material,
            viewed_at=AS_OF - dt.timedelta(days=days_ago, minutes=i),
        )


def _won(rep, amount, *, days_ago=10, **extra):
    return DealFactory(
        tenant=rep.tenant,
        rep=rep,
        partner=rep.partner,
        amount=amount,
        is_closed=True,
        is_won=True,
        stage="Closed Won",
        close_date=AS_OF_DATE - dt.timedelta(days=days_ago),
        **extra,
    )


@pytest.fixture
def data(in_tenant, other_tenant):
    tenant = in_tenant
    partners = {"A": PartnerFactory(tenant=tenant, name="A"), "B": PartnerFactory(tenant=tenant)}
    deck = MaterialFactory(tenant=tenant)
    case = MaterialFactory(tenant=tenant)
    reps = {}
    for name, (partner, views, wins) in REPS.items():
        rep = RepFactory(tenant=tenant, partner=partners[partner], name=name)
        reps[name] = rep
        _views(rep, deck, views - 1 if name == "a1" else views)
        for amount in wins:
            _won(rep, amount)
    # a1's 20 views: 19 of the deck and the case study once (2 distinct materials).
    _views(reps["a1"], case, 1, days_ago=0.5)

    # Things that must not count:
    _won(reps["a5"], 10_000_000, is_deleted=True)  # a deleted deal
    _won(reps["a7"], 4_000_000, days_ago=400)  # closed before the results window
    DealFactory(  # a lost deal
        tenant=tenant,
        rep=reps["a7"],
        partner=partners["A"],
        amount=900_000,
        is_closed=True,
        is_won=False,
        close_date=AS_OF_DATE - dt.timedelta(days=5),
    )
    DealFactory(  # a won deal without a rep counts for no rep
        tenant=tenant,
        rep=None,
        partner=partners["A"],
        amount=7_000_000,
        is_closed=True,
        is_won=True,
        close_date=AS_OF_DATE - dt.timedelta(days=5),
    )
    _views(reps["a4"], deck, 4, days_ago=100)  # before the view window
    _views(reps["a5"], deck, 30, days_ago=-2)  # after the as-of moment
    _views(reps["a9"], deck, 1, days_ago=200)  # only long ago
    DealFactory(tenant=tenant, rep=reps["a8"], partner=partners["A"], amount=100_000)  # open
    # A rep who left partner A: busy and selling, but not segmented.
    left = RepFactory(tenant=tenant, partner=partners["A"], name="left", is_employed=False)
    _views(left, deck, 50)
    _won(left, 9_000_000)

    # Another tenant's reps, views and deals in the same database change nothing.
    rival_partner = PartnerFactory(tenant=other_tenant)
    rival_deck = MaterialFactory(tenant=other_tenant)
    for i in range(12):
        rival = RepFactory(tenant=other_tenant, partner=rival_partner)
        _views(rival, rival_deck, 40 + i)
        _won(rival, 5_000_000 * (i + 1))
    return {"tenant": tenant, "reps": reps, "partners": partners, "left": left}


def _by_name(run):
    return {s.rep.name: s for s in RepSegment.objects.filter(run=run).select_related("rep")}


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
    seg = _by_name(run)
    # 14 employed reps; the rep who left is not segmented.
    assert set(seg) == set(REPS)

    # Active reps (a view in window, a won deal in window, or an open deal): all but
    # a9, a10, b3. Their views sorted: 0 0 1 2 3 5 6 8 12 15 20 -> median 5, and a4's 5
    # is not above it. Their won amounts: seven zeros of eleven -> median 0, so high
    # results means any won amount.
    assert run.views_cutoff == Decimal(5)
    assert run.results_cutoff == Decimal(0)
    expected_quadrants = {
        "a1": "performer",  # 20 views, 3,000,000
        "a2": "performer",  # 12 views, 500,000
        "a3": "motivated",  # 8 views, nothing won
        "a4": "dormant",  # 5 views: at the median, not above; the old views do not count
        "a5": "dormant",  # the deleted 10,000,000 deal and future views do not count
        "a6": "independent",  # no views, 2,000,000
        "a7": "dormant",  # the deal closed 400 days ago and the lost deal do not count
        "a8": "dormant",
        "a9": "dormant",
        "a10": "dormant",
        "b1": "motivated",
        "b2": "dormant",
        "b3": "dormant",
        "b4": "performer",  # 6 views, 1,000,000
    }
    assert {n: s.quadrant for n, s in seg.items()} == expected_quadrants
    assert {n for n, s in seg.items() if s.is_active} == set(REPS) - {"a9", "a10", "b3"}

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
    assert (a.reps, a.active_reps, a.activation_rate) == (10, 8, pytest.approx(0.8))
    assert (b.reps, b.active_reps, b.activation_rate) == (4, 3, pytest.approx(0.75))
    assert (a.performers, a.motivated, a.independents, a.dormant) == (2, 1, 1, 6)
    assert (b.performers, b.motivated, b.independents, b.dormant) == (1, 1, 0, 2)
    assert a.won_amount == Decimal("5500000")
    assert b.won_amount == Decimal("1000000")
    assert (a.is_tiered, b.is_tiered) == (True, False)
    # A: top a1 a2, bottom a8 a9 a10 (tied), the five others middle; B is too small.
    assert (a.top_reps, a.middle_reps, a.bottom_reps) == (2, 5, 3)
    assert (b.top_reps, b.middle_reps, b.bottom_reps) == (0, 0, 0)
    assert partner_tier_counts(tenant=data["tenant"], partner=data["partners"]["A"]) == {
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
    assert run.active_rep_count == 11
    assert run.quadrant_counts == {"performer": 3, "motivated": 2, "independent": 1, "dormant": 8}
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
    assert {s.tenant_id for s in partner_segments_current(tenant=data["tenant"])} == {
        data["tenant"].pk
    }
    assert len(segment_scatter_points(tenant=data["tenant"])) == 14


def test_selectors_filter_the_current_run(data):
    segmentation_run(tenant=data["tenant"], as_of=AS_OF)
    tenant = data["tenant"]
    motivated = rep_segments_current(tenant=tenant, quadrant="motivated")
    assert {s.rep.name for s in motivated} == {"a3", "b1"}
    top = rep_segments_current(tenant=tenant, tier="top")
    assert {s.rep.name for s in top} == {"a1", "a2"}
    untiered = rep_segments_current(tenant=tenant, tier="none")
    assert {s.rep.name for s in untiered} == {"b1", "b2", "b3", "b4"}
    in_b = rep_segments_current(tenant=tenant, partner_id=data["partners"]["B"].pk)
    assert in_b.count() == 4
    points = segment_scatter_points(tenant=tenant, partner_id=data["partners"]["B"].pk)
    assert sorted(points) == [
        (0, 0.0, "dormant"),
        (2, 0.0, "dormant"),
        (6, 1_000_000.0, "performer"),
        (15, 0.0, "motivated"),
    ]


def test_a_partners_reps_are_its_reps_now_as_segmented_in_the_run(data):
    """``rep_segments_of_partner``: the segment's partner and the rep's partner now."""
    tenant, partners, b2 = data["tenant"], data["partners"], data["reps"]["b2"]
    segmentation_run(tenant=tenant, as_of=AS_OF)
    b2.partner = partners["A"]  # moves after the run
    b2.save(update_fields=["partner"])

    def names(partner):
        return {s.rep.name for s in rep_segments_current(tenant=tenant, partner_id=partner.pk)}

    assert "b2" not in names(partners["B"]) | names(partners["A"])
    assert names(partners["B"]) == {"b1", "b3", "b4"}
    # The run's own figures still count b2 where it was.
    assert PartnerSegment.objects.get(run__is_current=True, partner=partners["B"]).reps == 4
    assert partner_tier_counts(tenant=tenant, partner=partners["B"]) == {"none": 4}
    assert len(segment_scatter_points(tenant=tenant, partner_id=partners["B"].pk)) == 3

    segmentation_run(tenant=tenant, as_of=AS_OF + dt.timedelta(days=1))
    assert "b2" in names(partners["A"])
    assert names(partners["B"]) == {"b1", "b3", "b4"}
    assert PartnerSegment.objects.get(run__is_current=True, partner=partners["B"]).reps == 3


def test_partner_won_amounts_are_exact_to_the_cent(in_tenant):
    partner = PartnerFactory(tenant=in_tenant)
    first = RepFactory(tenant=in_tenant, partner=partner)
    second = RepFactory(tenant=in_tenant, partner=partner)
    for amount in ("1234567890123.45", "0.10", "0.20"):
        _won(first, Decimal(amount))
    _won(second, Decimal("-0.35"))  # a credit note: amounts may be negative
    run = segmentation_run(tenant=in_tenant, as_of=AS_OF)

    figures = PartnerSegment.objects.get(run=run, partner=partner)
    assert figures.won_amount == Decimal("1234567890123.40")
    assert figures.won_deals == 4
    assert RepSegment.objects.get(run=run, rep=first).won_amount == Decimal("1234567890123.75")


def test_movement_from_the_previous_run_is_visible(data):
    first = segmentation_run(tenant=data["tenant"], as_of=AS_OF)
    # a3 (motivated) closes a first deal; a new rep joins partner A.
    _won(data["reps"]["a3"], 300_000, days_ago=0)
    newcomer = RepFactory(tenant=data["tenant"], partner=data["partners"]["A"], name="new")
    second = segmentation_run(tenant=data["tenant"], as_of=AS_OF + dt.timedelta(days=1))

    first.refresh_from_db()
    assert second.is_current and not first.is_current
    seg = _by_name(second)
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


def test_an_older_as_of_does_not_replace_a_newer_current_run(data):
    newer = segmentation_run(tenant=data["tenant"], as_of=AS_OF)
    older = segmentation_run(tenant=data["tenant"], as_of=AS_OF - dt.timedelta(days=3))
    assert older.status == SegmentationRun.Status.SUCCEEDED
    assert not older.is_current
    assert segmentation_current_run(tenant=data["tenant"]) == newer


def test_no_activity_at_all_is_dormant_and_never_high(in_tenant):
    partner = PartnerFactory(tenant=in_tenant)
    RepFactory.create_batch(6, tenant=in_tenant, partner=partner)
    run = segmentation_run(tenant=in_tenant, as_of=AS_OF)
    assert run.status == SegmentationRun.Status.SUCCEEDED, run.error
    assert run.quadrant_counts == {"performer": 0, "motivated": 0, "independent": 0, "dormant": 6}
    # Everyone ties at zero: nobody is top, everybody shares the bottom.
    assert run.tier_counts == {"top": 0, "middle": 0, "bottom": 6, "untiered": 0}
    assert run.views_cutoff is None and run.correlation_rho is None
    assert run.active_rep_count == 0


def test_an_empty_tenant_gets_an_empty_successful_run(in_tenant):
    run = segmentation_run(tenant=in_tenant, as_of=AS_OF)
    assert run.status == SegmentationRun.Status.SUCCEEDED, run.error
    assert run.rep_count == 0 and run.is_current
    assert list(rep_segments_current(tenant=in_tenant)) == []


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
    seg = _by_name(run)
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


def test_settings_are_validated(in_tenant):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as err:
        segmentation_settings_update(tenant=in_tenant, view_window_days=0)
    assert "view_window_days" in err.value.message_dict
    with pytest.raises(ValidationError) as err:
        segmentation_settings_update(tenant=in_tenant, results_window_days=4000)
    assert "results_window_days" in err.value.message_dict
    with pytest.raises(ValidationError) as err:
        segmentation_settings_update(
            tenant=in_tenant,
            results_measure="won_deals",
            results_high_rule="threshold",
            results_threshold=Decimal("1.5"),
        )
    assert "results_threshold" in err.value.message_dict
    saved = segmentation_settings_update(tenant=in_tenant, view_window_days=30)
    assert saved.pk and saved.view_window_days == 30 and saved.results_window_days == 365


def test_a_run_that_fails_half_way_leaves_the_previous_run_current(data, monkeypatch):
    first = segmentation_run(tenant=data["tenant"], as_of=AS_OF)

    def broken(**kwargs):
        raise RuntimeError("disk full")

    # The rep segments are written, then the partner step fails.
    monkeypatch.setattr(service, "_write_partner_segments", broken)
    failed = segmentation_run(tenant=data["tenant"], as_of=AS_OF + dt.timedelta(days=1))

    assert failed.status == SegmentationRun.Status.FAILED
    assert "disk full" in failed.error
    assert failed.finished_at is not None and not failed.is_current
    assert segmentation_current_run(tenant=data["tenant"]) == first
    assert not RepSegment.objects.filter(run=failed).exists()
    assert rep_segments_current(tenant=data["tenant"]).count() == 14


def test_nightly_is_idempotent_per_local_day(data):
    night = dt.datetime(2026, 11, 21, 2, 0, tzinfo=TOKYO)
    run = segmentation_nightly(tenant=data["tenant"], now=night)
    assert run.status == SegmentationRun.Status.SUCCEEDED
    assert run.as_of_date == dt.date(2026, 11, 21)
    assert segmentation_nightly(tenant=data["tenant"], now=night + dt.timedelta(hours=3)) is None
    assert SegmentationRun.objects.filter(trigger="nightly").count() == 1
    later = segmentation_nightly(tenant=data["tenant"], now=night + dt.timedelta(days=1))
    assert later.status == SegmentationRun.Status.SUCCEEDED


def test_prune_keeps_the_current_run_and_recent_history(data):
    old = segmentation_run(tenant=data["tenant"], as_of=AS_OF - dt.timedelta(days=300))
    recent = segmentation_run(tenant=data["tenant"], as_of=AS_OF - dt.timedelta(days=1))
    current = segmentation_run(tenant=data["tenant"], as_of=AS_OF)
    long_ago = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    SegmentationRun.objects.filter(pk=old.pk).update(created_at=long_ago)
    SegmentationRun.objects.filter(pk=current.pk).update(created_at=long_ago)

    assert segmentation_runs_prune(tenant=data["tenant"]) == 1
    kept = set(SegmentationRun.objects.values_list("pk", flat=True))
    assert kept == {recent.pk, current.pk}
    assert not RepSegment.objects.filter(run_id=old.pk).exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the advisory lock is PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_do_not_both_write(tenant, monkeypatch):
    with tenant_scope(tenant):
        partner = PartnerFactory(tenant=tenant)
        RepFactory.create_batch(3, tenant=tenant, partner=partner)

    inside = threading.Event()
    release = threading.Event()
    real = service._write_partner_segments

    def slow(**kwargs):
        inside.set()
        assert release.wait(20)
        return real(**kwargs)

    monkeypatch.setattr(service, "_write_partner_segments", slow)
    results = {}

    def first_run():
        try:
            with tenant_scope(tenant):
                results["first"] = segmentation_run(tenant=tenant, as_of=AS_OF)
        finally:
            connection.close()

    worker = threading.Thread(target=first_run)
    worker.start()
    try:
        assert inside.wait(20)
        monkeypatch.setattr(service, "_write_partner_segments", real)
        with tenant_scope(tenant):
            second = segmentation_run(tenant=tenant, as_of=AS_OF)
            assert second.status == SegmentationRun.Status.SKIPPED
            assert "in progress" in second.error
            assert not RepSegment.objects.filter(run=second).exists()
            # Meanwhile readers still see no current run (the first one is not committed).
            assert segmentation_current_run(tenant=tenant) is None
    finally:
        release.set()
        worker.join(30)
    with tenant_scope(tenant):
        first = results["first"]
        assert first.status == SegmentationRun.Status.SUCCEEDED
        assert segmentation_current_run(tenant=tenant) == first
        assert RepSegment.objects.filter(run=first).count() == 3


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row-level security is PostgreSQL's")
def test_runs_as_the_application_role_under_row_level_security(data, other_tenant):
    from tests.hardening.conftest import acting_as_app_role

    with acting_as_app_role():
        run = segmentation_run(tenant=data["tenant"], as_of=AS_OF)
        assert run.status == SegmentationRun.Status.SUCCEEDED, run.error
        assert run.rep_count == 14
        assert run.quadrant_counts["performer"] == 3
        with tenant_scope(other_tenant):
            rival = segmentation_run(tenant=other_tenant, as_of=AS_OF)
            assert rival.status == SegmentationRun.Status.SUCCEEDED, rival.error
            assert rival.rep_count == 12


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL planner setting")
def test_the_aggregates_run_without_plain_index_scans(data, monkeypatch):
    """The views aggregate must not be planned as an index walk in rep order (measured
    2.6x slower); the setting is local to the statement that needs it."""
    seen = []
    real = service._without_index_scans

    @contextlib.contextmanager
    def spy():
        with real():
            with connection.cursor() as cursor:
                cursor.execute("SELECT current_setting('enable_indexscan')")
                seen.append(cursor.fetchone()[0])
            yield

    monkeypatch.setattr(service, "_without_index_scans", spy)
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
        _views(rep, material, views)
        if amount:
            _won(rep, amount)
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
