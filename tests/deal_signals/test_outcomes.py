"""Outcomes per rule, counted by hand for a small case."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from deal_signals.models import DealSignal
from deal_signals.selectors import deal_signal_rule_outcomes
from pse_crm.tenancy import tenant_scope
from tests.activities.factories import DealFactory
from tests.deal_signals.factories import DealSignalFactory
from tests.reps.factories import RepFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(hour=3, minute=0, second=0, microsecond=0)


def _signal_days_ago(tenant, days: int, kind: str = "burst"):
    rep = RepFactory(partner__tenant=tenant)
    signal = DealSignalFactory(rep=rep, kind=kind, status="acted")
    created = NOW - dt.timedelta(days=days)
    with tenant_scope(tenant):
        DealSignal.objects.filter(pk=signal.pk).update(created_at=created)
    return rep, created


def _day(moment: dt.datetime, plus: int) -> dt.date:
    return timezone.localtime(moment).date() + dt.timedelta(days=plus)


def test_outcomes_by_hand(tenant, other_tenant):
    # S1, 70 days old: a new deal after 10 days, won after 40.
    rep, at = _signal_days_ago(tenant, 70)
    DealFactory(
        rep=rep,
        sf_created_at=at + dt.timedelta(days=10),
        is_closed=True,
        is_won=True,
        close_date=_day(at, 40),
    )
    # S2, 45 days old: a new deal only after 35 days (outside 30; too young for 60).
    rep, at = _signal_days_ago(tenant, 45)
    DealFactory(rep=rep, sf_created_at=at + dt.timedelta(days=35))
    # S3, 5 days old: too young for any window.
    rep, at = _signal_days_ago(tenant, 5)
    DealFactory(rep=rep, sf_created_at=at + dt.timedelta(days=1))
    # S4, 40 days old: its deal predates the signal (no new deal) but was won 20 days on.
    rep, at = _signal_days_ago(tenant, 40)
    DealFactory(
        rep=rep,
        sf_created_at=at - dt.timedelta(days=30),
        is_closed=True,
        is_won=True,
        close_date=_day(at, 20),
    )
    # A late-stage signal with nothing after it.
    _signal_days_ago(tenant, 65, kind="late_stage")
    # Another tenant's successful signal never counts here.
    rep, at = _signal_days_ago(other_tenant, 70)
    DealFactory(rep=rep, sf_created_at=at + dt.timedelta(days=1))

    with tenant_scope(tenant):
        outcomes = deal_signal_rule_outcomes(now=NOW)

    burst = outcomes["burst"]
    assert burst.total == 4
    thirty, sixty = burst.windows
    assert (thirty.days, thirty.n, thirty.deals, thirty.wins) == (30, 3, 1, 1)
    assert (thirty.median_days_to_deal, thirty.median_days_to_win) == (10.0, 20.0)
    assert (sixty.days, sixty.n, sixty.deals, sixty.wins) == (60, 1, 1, 1)
    assert (sixty.median_days_to_deal, sixty.median_days_to_win) == (10.0, 40.0)
    assert thirty.deal_rate == pytest.approx(1 / 3)

    late = outcomes["late_stage"]
    assert late.total == 1
    assert [(w.n, w.deals, w.wins) for w in late.windows] == [(1, 0, 0), (1, 0, 0)]
    assert outcomes["first_view"].total == 0
    assert outcomes["first_view"].windows[0].deal_rate is None
