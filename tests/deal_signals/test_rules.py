"""Each deal-signal rule fires exactly when it should, once, and only for its tenant."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from activities.models import Material
from deal_signals.models import DealSignal, DealSignalView, SignalKind, SignalRule
from deal_signals.services.signals import deal_signals_evaluate, signal_rules_ensure
from pse_crm.tenancy import tenant_scope
from tests.activities.factories import DealFactory, MaterialFactory, MaterialViewFactory
from tests.reps.factories import RepFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)


def _only(tenant, *kinds_on: str) -> None:
    """Switch every rule off but ``kinds_on`` (isolates one rule per test)."""
    with tenant_scope(tenant):
        for rule in signal_rules_ensure(tenant=tenant).values():
            rule.is_enabled = rule.kind in kinds_on
            rule.save()


def _views(rep, *hours_ago: float, kind: str = Material.Kind.DECK):
    material = MaterialFactory(tenant=rep.tenant, kind=kind)
    return [
        MaterialViewFactory(rep=rep, material=material, viewed_at=NOW - dt.timedelta(hours=h))
        for h in hours_ago
    ]


def _evaluate(tenant, reps, now=NOW):
    with tenant_scope(tenant):
        return deal_signals_evaluate(tenant=tenant, rep_ids=[r.pk for r in reps], now=now)


def _signals(tenant, **filters):
    with tenant_scope(tenant):
        return list(DealSignal.objects.filter(**filters).order_by("pk"))


# --- burst -----------------------------------------------------------------------------


def test_burst_fires_at_three_views_within_48_hours_with_its_views(tenant):
    _only(tenant, SignalKind.BURST)
    rep = RepFactory(partner__tenant=tenant)
    views = _views(rep, 47, 20, 1)
    [signal] = _evaluate(tenant, [rep])
    assert signal.kind == SignalKind.BURST
    assert signal.view_count == 3
    with tenant_scope(tenant):
        assert set(signal.views.values_list("pk", flat=True)) == {v.pk for v in views}
    assert signal.status == DealSignal.Status.NEW
    assert signal.partner_id == rep.partner_id


def test_burst_does_not_fire_at_two_views(tenant):
    _only(tenant, SignalKind.BURST)
    rep = RepFactory(partner__tenant=tenant)
    _views(rep, 10, 1)
    assert _evaluate(tenant, [rep]) == []


def test_burst_does_not_fire_when_the_views_span_just_over_48_hours(tenant):
    _only(tenant, SignalKind.BURST)
    rep = RepFactory(partner__tenant=tenant)
    _views(rep, 48 + 1 / 60, 24, 0)  # first and last are 48 h 1 min apart
    assert _evaluate(tenant, [rep]) == []


def test_burst_fires_when_the_views_span_exactly_48_hours(tenant):
    _only(tenant, SignalKind.BURST)
    rep = RepFactory(partner__tenant=tenant)
    _views(rep, 48, 24, 0)
    assert len(_evaluate(tenant, [rep])) == 1


def test_burst_threshold_and_window_follow_the_tenants_rule(tenant):
    _only(tenant, SignalKind.BURST)
    with tenant_scope(tenant):
        SignalRule.objects.filter(kind=SignalKind.BURST).update(threshold=5, window_hours=12)
    rep = RepFactory(partner__tenant=tenant)
    _views(rep, 11, 9, 5, 3)  # four views in 12 h
    assert _evaluate(tenant, [rep]) == []
    _views(rep, 2)
    assert len(_evaluate(tenant, [rep])) == 1


def test_replayed_evaluation_raises_nothing_new(tenant):
    _only(tenant, SignalKind.BURST)
    rep = RepFactory(partner__tenant=tenant)
    _views(rep, 3, 2, 1)
    assert len(_evaluate(tenant, [rep])) == 1
    assert _evaluate(tenant, [rep]) == []
    assert _evaluate(tenant, [rep], now=NOW + dt.timedelta(minutes=5)) == []
    assert len(_signals(tenant)) == 1


def test_the_same_views_never_raise_a_burst_again_after_it_is_dismissed(tenant):
    _only(tenant, SignalKind.BURST)
    rep = RepFactory(partner__tenant=tenant)
    _views(rep, 3, 2, 1)
    [signal] = _evaluate(tenant, [rep])
    with tenant_scope(tenant):
        DealSignal.objects.filter(pk=signal.pk).update(status="dismissed", dismiss_reason="known")
    assert _evaluate(tenant, [rep]) == []
    # Three fresh views are a new burst.
    _views(rep, 0.5, 0.4, 0.3)
    [again] = _evaluate(tenant, [rep])
    assert again.view_count == 3


def test_open_signal_blocks_a_duplicate_until_it_expires(tenant):
    _only(tenant, SignalKind.BURST)
    rep = RepFactory(partner__tenant=tenant)
    _views(rep, 30, 29, 28)
    [first] = _evaluate(tenant, [rep])
    _views(rep, 3, 2, 1)
    assert _evaluate(tenant, [rep]) == []  # the first is still open
    later = NOW + dt.timedelta(days=14)
    _views(rep, -14 * 24 + 2, -14 * 24 + 1, -14 * 24 + 0.5)  # views just before `later`
    [second] = _evaluate(tenant, [rep], now=later)
    first.refresh_from_db()
    assert first.status == DealSignal.Status.EXPIRED
    assert second.status == DealSignal.Status.NEW


def test_old_views_imported_late_raise_no_signal(tenant):
    _only(tenant, SignalKind.BURST, SignalKind.FIRST_VIEW)
    rep = RepFactory(partner__tenant=tenant)
    _views(rep, 20 * 24, 20 * 24 - 1, 20 * 24 - 2)  # a burst 20 days ago; signals last 14
    assert _evaluate(tenant, [rep]) == []


def test_a_disabled_rule_raises_nothing(tenant):
    _only(tenant)
    rep = RepFactory(partner__tenant=tenant)
    _views(rep, 3, 2, 1, kind=Material.Kind.PRICE_SHEET)
    assert _evaluate(tenant, [rep]) == []


def test_only_the_given_reps_are_evaluated(tenant):
    _only(tenant, SignalKind.BURST)
    rep, bystander = RepFactory.create_batch(2, partner__tenant=tenant)
    _views(rep, 3, 2, 1)
    _views(bystander, 3, 2, 1)
    [signal] = _evaluate(tenant, [rep])
    assert signal.rep_id == rep.pk


def test_open_deal_marks_the_signal_as_deal_in_progress(tenant):
    _only(tenant, SignalKind.BURST)
    busy, fresh = RepFactory.create_batch(2, partner__tenant=tenant)
    DealFactory(rep=busy, is_closed=False)
    DealFactory(rep=fresh, is_closed=True, is_won=True)
    for rep in (busy, fresh):
        _views(rep, 3, 2, 1)
    signals = {s.rep_id: s for s in _evaluate(tenant, [busy, fresh])}
    assert signals[busy.pk].has_open_deal is True
    assert signals[busy.pk].label == "Deal in progress"
    assert signals[fresh.pk].has_open_deal is False
    assert signals[fresh.pk].label == "Possible new deal"


# --- first view ------------------------------------------------------------------------


def test_first_view_ever_fires_once(tenant):
    _only(tenant, SignalKind.FIRST_VIEW)
    rep = RepFactory(partner__tenant=tenant)
    [view] = _views(rep, 2)
    [signal] = _evaluate(tenant, [rep])
    assert signal.kind == SignalKind.FIRST_VIEW
    with tenant_scope(tenant):
        assert list(signal.views.values_list("pk", flat=True)) == [view.pk]
        DealSignal.objects.filter(pk=signal.pk).update(status="dismissed", dismiss_reason="x")
    _views(rep, 1)
    assert _evaluate(tenant, [rep]) == []


def test_first_view_does_not_fire_for_a_rep_seen_before(tenant):
    _only(tenant, SignalKind.FIRST_VIEW)
    rep = RepFactory(partner__tenant=tenant)
    _views(rep, 60 * 24)  # a view two months ago
    _views(rep, 1)
    assert _evaluate(tenant, [rep]) == []


# --- late stage ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind", [Material.Kind.PRICE_SHEET, Material.Kind.QUOTE_TEMPLATE, Material.Kind.CONTRACT]
)
def test_late_stage_material_fires_on_one_view(tenant, kind):
    _only(tenant, SignalKind.LATE_STAGE)
    rep = RepFactory(partner__tenant=tenant)
    _views(rep, 1, kind=kind)
    [signal] = _evaluate(tenant, [rep])
    assert signal.kind == SignalKind.LATE_STAGE


def test_late_stage_ignores_other_materials_and_follows_the_rule(tenant):
    _only(tenant, SignalKind.LATE_STAGE)
    rep = RepFactory(partner__tenant=tenant)
    _views(rep, 3, 2, 1, kind=Material.Kind.DECK)
    assert _evaluate(tenant, [rep]) == []
    with tenant_scope(tenant):
        SignalRule.objects.filter(kind=SignalKind.LATE_STAGE).update(material_kinds=["deck"])
    assert len(_evaluate(tenant, [rep])) == 1


# --- reactivation ----------------------------------------------------------------------


def _segment(rep, *, quadrant: str, tier: str | None):
    from segmentation.models import RepSegment, SegmentationRun

    with tenant_scope(rep.tenant):
        run = SegmentationRun.objects.filter(is_current=True).first()
        if run is None:
            run = SegmentationRun.objects.create(
                as_of=NOW, as_of_date=NOW.date(), is_current=True, status="succeeded"
            )
        RepSegment.objects.create(
            run=run, rep=rep, partner=rep.partner, quadrant=quadrant, tier=tier
        )


def test_reactivation_fires_for_dormant_and_bottom_tier_reps_only(tenant):
    _only(tenant, SignalKind.REACTIVATION)
    dormant, bottom, motivated = RepFactory.create_batch(3, partner__tenant=tenant)
    _segment(dormant, quadrant="dormant", tier="middle")
    _segment(bottom, quadrant="independent", tier="bottom")
    _segment(motivated, quadrant="motivated", tier="top")
    for rep in (dormant, bottom, motivated):
        _views(rep, 50, 1)  # two views within the 7-day default window
    fired = {s.rep_id for s in _evaluate(tenant, [dormant, bottom, motivated])}
    assert fired == {dormant.pk, bottom.pk}


def test_reactivation_needs_the_threshold(tenant):
    _only(tenant, SignalKind.REACTIVATION)
    rep = RepFactory(partner__tenant=tenant)
    _segment(rep, quadrant="dormant", tier=None)
    _views(rep, 1)
    assert _evaluate(tenant, [rep]) == []


# --- all rules, tenants ----------------------------------------------------------------


def test_every_kind_fires_together_and_each_view_is_claimed_once_per_kind(tenant):
    rep = RepFactory(partner__tenant=tenant)
    _segment(rep, quadrant="dormant", tier="bottom")
    _views(rep, 3, 2, 1, kind=Material.Kind.PRICE_SHEET)
    signals = _evaluate(tenant, [rep])
    assert sorted(s.kind for s in signals) == sorted(SignalKind.values)
    with tenant_scope(tenant):
        assert DealSignalView.objects.count() == 3 + 1 + 3 + 3
    assert _evaluate(tenant, [rep]) == []


def test_another_tenants_views_never_raise_signals_here(tenant, other_tenant):
    _only(tenant, SignalKind.BURST, SignalKind.FIRST_VIEW)
    theirs = RepFactory(partner__tenant=other_tenant)
    _views(theirs, 3, 2, 1)
    # Even handed the other tenant's rep ids, this tenant's evaluation sees none of them.
    assert _evaluate(tenant, [theirs]) == []
    assert _signals(tenant) == []
    with tenant_scope(other_tenant):
        assert DealSignal.objects.count() == 0
