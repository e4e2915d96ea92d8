"""The segmentation run's lifecycle: the current run, failures, the lock, the nightly run
and pruning, against the hand-built data set (``handbuilt.py``)."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection

from pse_crm.tenancy import tenant_scope
from segmentation.models import RepSegment, SegmentationRun
from segmentation.selectors import rep_segments_current, segmentation_current_run
from segmentation.services import runs, segments
from segmentation.services.runs import (
    segmentation_nightly,
    segmentation_run,
    segmentation_runs_prune,
)
from tests.partners.factories import PartnerFactory
from tests.reps.factories import RepFactory
from tests.segmentation.handbuilt import AS_OF, TOKYO


def test_an_older_as_of_does_not_replace_a_newer_current_run(data):
    newer = segmentation_run(tenant=data["tenant"], as_of=AS_OF)
    older = segmentation_run(tenant=data["tenant"], as_of=AS_OF - dt.timedelta(days=3))
    assert older.status == SegmentationRun.Status.SUCCEEDED
    assert not older.is_current
    assert segmentation_current_run(tenant=data["tenant"]) == newer


def test_an_empty_tenant_gets_an_empty_successful_run(in_tenant):
    run = segmentation_run(tenant=in_tenant, as_of=AS_OF)
    assert run.status == SegmentationRun.Status.SUCCEEDED, run.error
    assert run.rep_count == 0 and run.is_current
    assert list(rep_segments_current(tenant=in_tenant)) == []


def test_a_run_that_fails_half_way_leaves_the_previous_run_current(data, monkeypatch):
    first = segmentation_run(tenant=data["tenant"], as_of=AS_OF)

    def broken(**kwargs):
        raise RuntimeError("disk full")

    # The rep segments are written, then the partner step fails.
    monkeypatch.setattr(runs, "write_partner_segments", broken)
    failed = segmentation_run(tenant=data["tenant"], as_of=AS_OF + dt.timedelta(days=1))

    assert failed.status == SegmentationRun.Status.FAILED
    assert "disk full" in failed.error
    assert failed.finished_at is not None and not failed.is_current
    assert segmentation_current_run(tenant=data["tenant"]) == first
    assert not RepSegment.objects.filter(run=failed).exists()
    assert rep_segments_current(tenant=data["tenant"]).count() == 14


def _fails_like_the_first(data, first, failed, error_text):
    assert failed.status == SegmentationRun.Status.FAILED
    assert error_text in failed.error
    assert not failed.is_current
    assert segmentation_current_run(tenant=data["tenant"]) == first
    assert not RepSegment.objects.filter(run=failed).exists()
    assert rep_segments_current(tenant=data["tenant"]).count() == 14


def test_statistics_failing_while_the_segments_are_written_fail_the_run(data, monkeypatch):
    """Steps 2 and 3 are computed while the segments' INSERT runs: a failure there still
    fails the run whole (the INSERT is cancelled or rolled back with it)."""
    first = segmentation_run(tenant=data["tenant"], as_of=AS_OF)

    def broken(**kwargs):
        raise RuntimeError("statistics broke")

    monkeypatch.setattr(runs, "summarise", broken)
    failed = segmentation_run(tenant=data["tenant"], as_of=AS_OF + dt.timedelta(days=1))
    _fails_like_the_first(data, first, failed, "statistics broke")
    # The connection serves the next run.
    monkeypatch.undo()
    again = segmentation_run(tenant=data["tenant"], as_of=AS_OF + dt.timedelta(days=2))
    assert again.status == SegmentationRun.Status.SUCCEEDED, again.error


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a float division by zero")
def test_the_segments_insert_failing_fails_the_run_with_its_own_error(data, monkeypatch):
    """The INSERT runs alongside the NumPy steps: its own error is the run's error."""
    first = segmentation_run(tenant=data["tenant"], as_of=AS_OF)
    real = segments.statement_alongside

    def failing(sql, params):
        assert "c.score," in sql
        return real(sql.replace("c.score,", "c.score / 0,"), params)

    monkeypatch.setattr(segments, "statement_alongside", failing)
    failed = segmentation_run(tenant=data["tenant"], as_of=AS_OF + dt.timedelta(days=1))
    _fails_like_the_first(data, first, failed, "division by zero")


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
    real = runs.write_partner_segments

    def slow(**kwargs):
        inside.set()
        assert release.wait(20)
        return real(**kwargs)

    monkeypatch.setattr(runs, "write_partner_segments", slow)
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
        monkeypatch.setattr(runs, "write_partner_segments", real)
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
        assert run.quadrant_counts["performer"] == 2
        with tenant_scope(other_tenant):
            rival = segmentation_run(tenant=other_tenant, as_of=AS_OF)
            assert rival.status == SegmentationRun.Status.SUCCEEDED, rival.error
            assert rival.rep_count == 12
