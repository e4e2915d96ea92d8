"""One meaning of activity: momentum's active reps of a week are the segmentation's active
reps for a run as of that week's end with both windows one week long."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from momentum.models import MomentumSnapshot
from momentum.services import momentum_build
from pse_crm.calendar import day_start
from segmentation.models import RepSegment
from segmentation.services.runs import segmentation_run
from segmentation.services.settings import segmentation_settings_update
from tests.activities.factories import DealFactory, MaterialViewFactory
from tests.partners.factories import PartnerFactory
from tests.reps.factories import RepFactory

pytestmark = pytest.mark.django_db

TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")
MONDAY = dt.date(2026, 3, 9)


def test_momentum_and_the_segmentation_count_the_same_active_reps(in_tenant):
    tenant = in_tenant
    tenant.timezone = "Asia/Tokyo"
    tenant.save(update_fields=["timezone"])
    start = day_start(tenant, MONDAY)
    end = day_start(tenant, MONDAY + dt.timedelta(days=7))
    partner = PartnerFactory(tenant=tenant)
    reps = {name: RepFactory(tenant=tenant, partner=partner, name=name) for name in "vcwoaez"}
    MaterialViewFactory(tenant=tenant, rep=reps["v"], viewed_at=start)  # the first instant
    DealFactory(tenant=tenant, rep=reps["c"], sf_created_at=end - dt.timedelta(seconds=1))
    DealFactory(  # won in the week, opened long before
        tenant=tenant,
        rep=reps["w"],
        is_closed=True,
        is_won=True,
        close_date=MONDAY + dt.timedelta(days=6),
        sf_created_at=start - dt.timedelta(days=200),
    )
    # Not activity: an old open deal, a view the week before, a deal opened after it, a
    # deleted deal.
    DealFactory(tenant=tenant, rep=reps["o"], sf_created_at=start - dt.timedelta(days=100))
    MaterialViewFactory(tenant=tenant, rep=reps["a"], viewed_at=start - dt.timedelta(seconds=1))
    DealFactory(tenant=tenant, rep=reps["e"], sf_created_at=end)
    DealFactory(
        tenant=tenant, rep=reps["z"], sf_created_at=start + dt.timedelta(days=1), is_deleted=True
    )

    momentum_build(tenant=tenant, mondays=[MONDAY], now=end + dt.timedelta(hours=3))
    week = MomentumSnapshot.objects.get(partner=partner, week_start=MONDAY)

    segmentation_settings_update(tenant=tenant, view_window_days=7, results_window_days=7)
    run = segmentation_run(tenant=tenant, as_of=end - dt.timedelta(microseconds=1))
    active = set(
        RepSegment.objects.filter(run=run, is_active=True).values_list("rep__name", flat=True)
    )
    assert active == {"v", "c", "w"}
    assert week.active_reps == run.active_rep_count == 3
    # Dormant in the run means inactive in the week.
    dormant = set(
        RepSegment.objects.filter(run=run, quadrant="dormant").values_list("rep__name", flat=True)
    )
    assert dormant == {"o", "a", "e", "z"}
