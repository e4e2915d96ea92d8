"""``rep_segments_current`` names the current run by a subquery: the same rows, one query."""

from __future__ import annotations

import datetime as dt

from django.db import connection
from django.test.utils import CaptureQueriesContext

from segmentation.models import RepSegment, SegmentationRun
from segmentation.selectors import rep_segments_current
from segmentation.services.runs import segmentation_run
from tests.segmentation.handbuilt import AS_OF


def test_a_partners_rows_come_from_the_current_run_only_in_keymen_order(data):
    tenant, partner = data["tenant"], data["partners"]["A"]
    segmentation_run(tenant=tenant, as_of=AS_OF - dt.timedelta(days=7))
    segmentation_run(tenant=tenant, as_of=AS_OF)
    current = SegmentationRun.objects.get(tenant=tenant, is_current=True)
    assert SegmentationRun.objects.filter(tenant=tenant).count() == 2

    with CaptureQueriesContext(connection) as queries:
        rows = list(
            rep_segments_current(tenant=tenant, partner_id=partner.pk).order_by("-score", "rep_id")
        )
    assert len(queries) == 1
    expected = list(
        RepSegment.objects.filter(run=current, partner=partner, rep__partner=partner).order_by(
            "-score", "rep_id"
        )
    )
    assert expected and [s.pk for s in rows] == [s.pk for s in expected]
    assert {s.run_id for s in rows} == {current.pk}


def test_no_current_run_gives_no_rows(data):
    tenant = data["tenant"]
    segmentation_run(tenant=tenant, as_of=AS_OF)
    SegmentationRun.objects.filter(tenant=tenant).update(is_current=False)
    assert list(rep_segments_current(tenant=tenant)) == []
    assert list(rep_segments_current(tenant=tenant, partner_id=data["partners"]["A"].pk)) == []
