"""The segmentation run reads the views' roll-ups on PostgreSQL: it must find exactly what
a pass over the views finds, for any as-of moment (also one in the past, with views after
it) and any window, at the edges of UTC days and of the window included, whichever of the
views are folded into the roll-ups and which are above the mark."""

from __future__ import annotations

import datetime as dt
import itertools
import zoneinfo

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from activities.models import MaterialView
from activities.services.rollups import view_rollups_fold
from pse_crm.tenancy import tenant_scope
from segmentation.models import RepSegment, SegmentationRun
from segmentation.selectors import segmentation_settings_get
from segmentation.services.segments import write_rep_segments
from tests.activities.factories import MaterialFactory, MaterialViewFactory
from tests.partners.factories import PartnerFactory
from tests.reps.factories import RepFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the roll-ups are PostgreSQL's"),
]

T0 = dt.datetime(2026, 3, 10, tzinfo=dt.UTC)  # a UTC midnight
TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")
DAY = 1440  # minutes
_events = itertools.count()
COMPARED = ("rep_id", "views", "distinct_materials", "last_viewed_at", "quadrant", "tier", "score")


@pytest.fixture
def world(tenant, other_tenant):
    partner = PartnerFactory(tenant=tenant)
    reps = [RepFactory(tenant=tenant, partner=partner) for _ in range(3)]
    materials = [MaterialFactory(tenant=tenant) for _ in range(3)]
    # Another tenant's views at the same moments change nothing.
    for minutes in (0, -DAY, DAY):
        MaterialViewFactory(
            tenant=other_tenant,
            rep__tenant=other_tenant,
            rep__partner__tenant=other_tenant,
            viewed_at=T0 + dt.timedelta(minutes=minutes),
        )
    return reps, materials


def _segments(tenant, *, as_of, window, rollups) -> list[tuple]:
    config = segmentation_settings_get(tenant=tenant)
    config.view_window_days = window
    run = SegmentationRun.objects.create(
        tenant=tenant, as_of=as_of, as_of_date=as_of.date(), status=SegmentationRun.Status.RUNNING
    )
    write_rep_segments(run=run, config=config, previous_run_id=None, rollups=rollups)
    return list(RepSegment.objects.filter(run=run).order_by("rep_id").values_list(*COMPARED))


@st.composite
def cases(draw):
    window = draw(st.integers(1, 3))
    as_of_minute = draw(st.one_of(st.integers(0, 2 * DAY), st.sampled_from([0, 1, DAY - 1, DAY])))
    start = as_of_minute - window * DAY
    # Views anywhere from before the window to after as_of, and on the edges: the window's
    # start (excluded) and end (included), the UTC midnights around them.
    first_day_end, last_day_start = (start // DAY + 1) * DAY, (as_of_minute // DAY) * DAY
    special = [start, start + 1, as_of_minute, as_of_minute + 1, first_day_end, last_day_start]
    minute = st.one_of(st.integers(start - 2 * DAY, as_of_minute + DAY), st.sampled_from(special))
    views = draw(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2), minute), max_size=25))
    # The first ``folded`` views are folded into the roll-ups, the rest stay above the mark.
    folded = draw(st.integers(0, len(views)))
    # Whole minutes put views (and as_of) exactly on UTC midnights and window ends; a
    # seconds offset puts them between. as_of in UTC or in Tokyo time: the same instant.
    seconds = draw(st.sampled_from([0, 30]))
    zone = draw(st.sampled_from([dt.UTC, TOKYO]))
    return window, as_of_minute, views, folded, seconds, zone


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
@given(case=cases())
def test_the_roll_ups_find_what_a_pass_over_the_views_finds(tenant, world, case):
    window, as_of_minute, views, folded, seconds, zone = case
    reps, materials = world
    as_of = (T0 + dt.timedelta(minutes=as_of_minute, seconds=seconds)).astimezone(zone)
    with tenant_scope(tenant), transaction.atomic():
        for first, part in enumerate((views[:folded], views[folded:])):
            MaterialView.objects.bulk_create(
                MaterialView(
                    tenant=tenant,
                    rep=reps[r],
                    material=materials[m],
                    viewed_at=T0 + dt.timedelta(minutes=minute, seconds=seconds),
                    event_id=f"e{next(_events)}",
                )
                for r, m, minute in part
            )
            if first == 0:
                assert view_rollups_fold(tenant=tenant) == folded
        expected = _segments(tenant, as_of=as_of, window=window, rollups=False)
        found = _segments(tenant, as_of=as_of, window=window, rollups=True)
        assert found == expected
        # The reference itself counts the window: (as_of - window, as_of].
        in_window = [v for v in views if as_of_minute - window * DAY < v[2] <= as_of_minute]
        assert sum(row[1] for row in expected) == len(in_window)
        transaction.set_rollback(True)


def _pays(tenant, *, as_of, fold: bool = True) -> bool:
    from activities.services.rollups import view_rollups_mark
    from segmentation.services.sql import views_rollups_pay

    if fold:
        view_rollups_fold(tenant=tenant)
    with connection.cursor() as cursor:
        for table in (
            "activities_materialview",
            "activities_repviewday",
            "activities_repmaterialspan",
        ):
            cursor.execute(f"ANALYZE {table}")
    views_from = as_of - dt.timedelta(days=90)
    return views_rollups_pay(
        {
            "tenant": tenant.pk,
            "as_of": as_of,
            "views_from": views_from,
            "first_day": views_from.date(),
            "last_day": as_of.date(),
            "folded": view_rollups_mark(tenant_id=tenant.pk),
        }
    )


def test_the_roll_ups_are_read_where_they_hold_fewer_rows_than_the_window(tenant, world):
    reps, materials = world
    as_of = T0 + dt.timedelta(days=100)
    # Many views of one material by one rep, on a few days in the window: a few roll-ups.
    MaterialView.objects.bulk_create(
        MaterialView(
            tenant=tenant,
            rep=reps[0],
            material=materials[0],
            viewed_at=as_of - dt.timedelta(days=1 + i % 3, minutes=i),
            event_id=f"e{next(_events)}",
        )
        for i in range(400)
    )
    # Not while they sit above the mark: the run would read them from the views anyway.
    assert not _pays(tenant, as_of=as_of, fold=False)
    assert _pays(tenant, as_of=as_of)


def test_the_views_are_read_where_the_roll_ups_would_hold_more_rows(tenant, world):
    reps, _ = world
    as_of = T0 + dt.timedelta(days=100)
    # Each view its own material and day, nearly all before the window.
    materials = [MaterialFactory(tenant=tenant) for _ in range(150)]
    MaterialView.objects.bulk_create(
        MaterialView(
            tenant=tenant,
            rep=reps[i % 3],
            material=m,
            viewed_at=as_of - dt.timedelta(days=100 + i),
            event_id=f"e{next(_events)}",
        )
        for i, m in enumerate(materials)
    )
    assert not _pays(tenant, as_of=as_of)
