"""The one-statement evaluation (PostgreSQL) raises exactly what the Python rules raise.

Random worlds (views with tied times and future times, views already claimed, open and
closed signals, dormant and bottom-tier reps, open deals, random rules, another tenant's
reps in the list) are evaluated both ways, each in a transaction rolled back, and the
stored signals and triggering views compared field by field.
"""

from __future__ import annotations

import datetime as dt
import random

import pytest
from django.db import connection, transaction
from django.utils import timezone

from activities.models import Material, MaterialView
from deal_signals.models import DealSignal, DealSignalView, SignalKind
from deal_signals.services import signals as service
from deal_signals.services.signals_sql import signals_raise
from pse_crm.tenancy import tenant_scope
from segmentation.models import RepSegment, SegmentationRun
from tests.activities.factories import DealFactory, MaterialFactory
from tests.deal_signals.factories import DealSignalFactory
from tests.reps.factories import RepFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the statement is PostgreSQL's"),
]

NOW = timezone.now().replace(microsecond=0)


def _world(tenant, other_tenant, rng: random.Random) -> list[int]:
    """Reps with random views; returns the rep ids to evaluate (some of another tenant)."""
    materials = [MaterialFactory(tenant=tenant, kind=k) for k in Material.Kind.values]
    reps = RepFactory.create_batch(12, partner__tenant=tenant)
    theirs = RepFactory.create_batch(2, partner__tenant=other_tenant)
    their_material = MaterialFactory(tenant=other_tenant)
    views = []
    for rep in reps:
        # Whole hours make equal times common (the window's ties); some are in the future
        # (for some reps, every view: a first view after now).
        low, high = rng.choice([(-3, 30 * 24), (0, 72), (-3, 2)])
        hours = [rng.choice([rng.randint(low, high), rng.randint(0, 72)]) for _ in range(12)]
        if high == 2:
            hours = [rng.randint(low, high) for _ in range(12)]
        for i, h in enumerate(rng.sample(hours, rng.randint(0, 12))):
            views.append(
                MaterialView(
                    tenant=tenant,
                    rep=rep,
                    material=rng.choice(materials),
                    viewed_at=NOW - dt.timedelta(hours=h),
                    duration_seconds=30,
                    source="test",
                    event_id=f"{rep.pk}-{i}",
                )
            )
    with tenant_scope(tenant):
        MaterialView.objects.bulk_create(views)
        run = SegmentationRun.objects.create(
            as_of=NOW, as_of_date=NOW.date(), is_current=True, status="succeeded"
        )
        for rep in reps:
            if rng.random() < 0.5:
                RepSegment.objects.create(
                    run=run,
                    rep=rep,
                    partner=rep.partner,
                    quadrant=rng.choice(["dormant", "motivated", "independent", "skeptical"]),
                    tier=rng.choice(["top", "middle", "bottom", None]),
                )
            if rng.random() < 0.3:
                DealFactory(rep=rep, is_closed=rng.random() < 0.5)
        # Earlier signals: some open (they block their kind), some handled; some views
        # already claimed by them.
        for rep in reps:
            for kind in SignalKind.values:
                if rng.random() < 0.2:
                    status = rng.choice(["new", "acted", "expired"])
                    signal = DealSignalFactory(rep=rep, kind=kind, status=status)
                    mine = [v for v in views if v.rep_id == rep.pk]
                    for view in rng.sample(mine, min(len(mine), rng.randint(0, 3))):
                        DealSignalView.objects.create(
                            tenant=tenant, signal=signal, view=view, kind=kind
                        )
        for rule in service.signal_rules_ensure(tenant=tenant).values():
            rule.is_enabled = rng.random() < 0.85
            rule.threshold = 1 if rule.kind == SignalKind.FIRST_VIEW else rng.randint(1, 4)
            rule.window_hours = rng.choice([1, 6, 24, 48, 7 * 24])
            rule.expiry_days = rng.choice([1, 3, 14, 30])
            if rule.kind == SignalKind.LATE_STAGE:
                rule.material_kinds = rng.sample(Material.Kind.values, rng.randint(1, 3))
            rule.save()
    with tenant_scope(other_tenant):
        for rep in theirs:
            for h in (3, 2, 1):
                MaterialView.objects.create(
                    tenant=other_tenant,
                    rep=rep,
                    material=their_material,
                    viewed_at=NOW - dt.timedelta(hours=h),
                    duration_seconds=30,
                    source="test",
                    event_id=f"theirs-{rep.pk}-{h}",
                )
    return [r.pk for r in reps + theirs]


def _raised(tenant, rep_ids, evaluate) -> set[tuple]:
    """What ``evaluate`` stores, as comparable tuples; rolled back afterwards."""
    with tenant_scope(tenant), transaction.atomic():
        rules = {
            k: r for k, r in service.signal_rules_ensure(tenant=tenant).items() if r.is_enabled
        }
        before = set(DealSignal.objects.values_list("pk", flat=True))
        returned = evaluate(tenant=tenant, rep_ids=sorted(rep_ids), rules=rules, now=NOW)
        new = DealSignal.objects.exclude(pk__in=before)
        assert sorted(s.pk for s in returned) == sorted(new.values_list("pk", flat=True))
        rows = set()
        for s in new:
            assert s == next(r for r in returned if r.pk == s.pk)
            views = tuple(
                DealSignalView.objects.filter(signal=s)
                .order_by("view_id")
                .values_list("view_id", "kind")
            )
            assert all(kind == s.kind for _view, kind in views)
            rows.add(
                (
                    s.rep_id,
                    s.partner_id,
                    s.kind,
                    s.status,
                    s.view_count,
                    s.first_viewed_at,
                    s.last_viewed_at,
                    s.has_open_deal,
                    s.expires_at,
                    s.dismiss_reason,
                    tuple(v for v, _kind in views),
                )
            )
        transaction.set_rollback(True)
    return rows


def test_the_statement_raises_what_the_python_rules_raise(tenant, other_tenant):
    kinds, hits = set(), 0
    for seed in range(30):
        with transaction.atomic():
            rep_ids = _world(tenant, other_tenant, random.Random(seed))
            in_python = _raised(tenant, rep_ids, service._evaluate_in_python)
            in_sql = _raised(tenant, rep_ids, signals_raise)
            assert in_sql == in_python, f"seed {seed}"
            assert {r[0] for r in in_sql} <= set(rep_ids[:-2])  # never the other tenant's
            kinds |= {r[2] for r in in_sql}
            hits += len(in_sql)
            transaction.set_rollback(True)  # the next world starts empty
    # Not two empty sets compared: the worlds raise every kind, many times.
    assert kinds == set(SignalKind.values)
    assert hits > 100


def _bursting_reps(tenant, count: int):
    material = MaterialFactory(tenant=tenant)
    reps = RepFactory.create_batch(count, partner__tenant=tenant)
    with tenant_scope(tenant):
        MaterialView.objects.bulk_create(
            MaterialView(
                tenant=tenant,
                rep=rep,
                material=material,
                viewed_at=NOW - dt.timedelta(hours=h),
                duration_seconds=30,
                source="test",
                event_id=f"q-{rep.pk}-{h}",
            )
            for rep in reps
            for h in (3, 2, 1)
        )
    return reps


def test_a_large_batch_costs_the_queries_of_a_small_one(tenant):
    from django.test.utils import CaptureQueriesContext

    def queries(reps) -> tuple[int, int]:
        with tenant_scope(tenant), CaptureQueriesContext(connection) as ctx:
            raised = service.deal_signals_evaluate(tenant=tenant, rep_ids=[r.pk for r in reps])
        return len(ctx), len(raised)

    small, raised_small = queries(_bursting_reps(tenant, 2))
    large, raised_large = queries(_bursting_reps(tenant, 2500))  # more than a Python chunk
    assert raised_small == 2 * 2 and raised_large == 2500 * 2  # a burst and a first view each
    assert large == small
