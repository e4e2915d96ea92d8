"""The segmentation run's lifecycle: request, run, lock, the nightly run and pruning.

``segmentation_run`` computes one run for one tenant as of one moment (the statements are
described in ``segments``, the statistics in ``statistics``):

1. the rep segments: one ``CREATE TEMPORARY TABLE … AS SELECT`` of the per-rep
   aggregates, one read of the figures the placement needs, the cut-offs, quadrants,
   scores and tiers in NumPy, then one ``INSERT … SELECT`` of every employed rep's
   segment (``segments.write_rep_segments``);
2. those NumPy columns (no read back) give the counts and the statistics (Spearman's ρ;
   correlation, not causation): ``statistics.summarise``;
3. one ``INSERT … SELECT`` writes the per-partner figures with their statistics and the
   first-performer playbook (``segments.write_partner_segments``). Steps 2 and 3 are
   computed in NumPy (``statistics.summarise``, ``segments.partner_segment_rows``) while
   the database executes step 1's ``INSERT`` (on PostgreSQL: ``sql.statement_alongside``);
4. the run becomes current (``is_current`` flips).

On PostgreSQL the run's transaction is tuned first (``sql.tune_transaction``: memory for
sorts, parallel plans, no JIT, no wait for the commit's WAL flush).

All four steps are one transaction: readers see the previous complete run or the new
complete run, never a half. A failure rolls them back and the run is recorded as
``failed`` with its error; the previous run stays current.

Two runs of one tenant never overlap: on PostgreSQL a session advisory lock keyed on the
tenant is taken before the run starts; a second run that finds it held is recorded as
``skipped`` and says so. (SQLite, the single-process demo, serialises writers itself.)

Edge cases, decided:

* The **current run** is the latest complete run by ``as_of``: a late retry of an older
  as-of moment is kept in history but does not replace a newer current run.
* The **nightly run** runs at most once per tenant and local as-of day; runs older than
  the tenant's ``run_retention_days`` are pruned, never the current one nor one still
  pending or running.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from pse_crm.models import Tenant, User
from segmentation.models import PartnerSegment, RepSegment, SegmentationRun, SegmentationSettings
from segmentation.selectors import segmentation_settings_get
from segmentation.services.segments import (
    PartnerRows,
    RepSegmentsWritten,
    partner_segment_rows,
    partner_segments_carried,
    write_partner_segments,
    write_rep_segments,
)
from segmentation.services.sql import tune_transaction
from segmentation.services.statistics import summarise

__all__ = [
    "segmentation_nightly",
    "segmentation_run",
    "segmentation_run_request",
    "segmentation_runs_prune",
]

log = logging.getLogger(__name__)

# First key of the two-key advisory lock: "segmentation" (the second key is the tenant).
_LOCK_NAMESPACE = 0x5E6A


def _local_date(tenant: Tenant, moment: dt.datetime) -> dt.date:
    return timezone.localtime(moment, tenant.tzinfo).date()


def segmentation_run_request(
    *,
    tenant: Tenant,
    as_of: dt.datetime | None = None,
    trigger: str = SegmentationRun.Trigger.MANUAL,
    requested_by: User | None = None,
) -> SegmentationRun:
    """Record a pending run (the API's ``POST``); a task then calls ``segmentation_run``."""
    as_of = as_of or timezone.now()
    return SegmentationRun.objects.create(
        tenant=tenant,
        as_of=as_of,
        as_of_date=_local_date(tenant, as_of),
        trigger=trigger,
        requested_by=requested_by,
    )


@contextmanager
def _tenant_run_lock(tenant_id: int) -> Iterator[bool]:
    """Hold the tenant's segmentation lock for the block; yields whether it was acquired.

    A session-level PostgreSQL advisory lock: released on exit, or by the server when the
    worker's connection dies, so a killed run never blocks the next one.
    """
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LOCK_NAMESPACE, tenant_id])
        acquired = bool(cursor.fetchone()[0])
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_NAMESPACE, tenant_id])


def segmentation_run(
    *,
    tenant: Tenant,
    as_of: dt.datetime | None = None,
    run: SegmentationRun | None = None,
    trigger: str = SegmentationRun.Trigger.MANUAL,
    requested_by: User | None = None,
) -> SegmentationRun:
    """Segment every employed rep of ``tenant`` as of ``as_of`` (default: now).

    Pass ``run`` to execute a run recorded earlier by ``segmentation_run_request`` (its
    ``as_of`` wins); a run that is no longer pending is returned unchanged.

    Guarantees:

    * the run's segments, partner figures and statistics are written completely and the
      run becomes current in one transaction, or none of it is written;
    * on failure the run is ``failed`` with the error text and the previous run stays
      current; the error is not raised (the caller reads ``run.status``);
    * two runs of one tenant never overlap: the one that finds another in progress is
      ``skipped`` and its ``error`` says why;
    * a nightly run for an as-of day that already has a succeeded nightly run is
      ``skipped``;
    * only ``tenant``'s rows are read or written.
    """
    if run is None:
        run = segmentation_run_request(
            tenant=tenant, as_of=as_of, trigger=trigger, requested_by=requested_by
        )
    elif run.tenant_id != tenant.pk:
        raise ValueError("the run belongs to another tenant")
    elif run.status != SegmentationRun.Status.PENDING:
        return run

    with _tenant_run_lock(tenant.pk) as acquired:
        if not acquired:
            return _finish_without_running(
                run, _("Another segmentation run for this tenant was in progress; skipped.")
            )
        # Holding the lock, any other "running" run of the tenant lost its worker.
        SegmentationRun.objects.filter(
            tenant=tenant, status=SegmentationRun.Status.RUNNING
        ).exclude(pk=run.pk).update(
            status=SegmentationRun.Status.FAILED,
            finished_at=timezone.now(),
            error=_("Interrupted: the worker stopped before the run finished."),
        )
        if (
            run.trigger == SegmentationRun.Trigger.NIGHTLY
            and SegmentationRun.objects.filter(
                tenant=tenant,
                trigger=SegmentationRun.Trigger.NIGHTLY,
                status=SegmentationRun.Status.SUCCEEDED,
                as_of_date=run.as_of_date,
            ).exists()
        ):
            return _finish_without_running(
                run, _("The nightly run for this day has already succeeded; skipped.")
            )

        config = segmentation_settings_get(tenant=tenant)
        run.settings_used = config.snapshot()
        run.status = SegmentationRun.Status.RUNNING
        run.started_at = timezone.now()
        run.save(update_fields=["settings_used", "status", "started_at"])
        clock = time.perf_counter()
        try:
            with transaction.atomic():
                _compute(run=run, config=config)
        except Exception as exc:
            log.exception("segmentation run %s of tenant %s failed", run.pk, tenant.pk)
            run.refresh_from_db()
            run.status = SegmentationRun.Status.FAILED
            run.is_current = False
            run.error = f"{type(exc).__name__}: {exc}"
            run.finished_at = timezone.now()
            run.duration_ms = round((time.perf_counter() - clock) * 1000)
            run.save(update_fields=["status", "is_current", "error", "finished_at", "duration_ms"])
        return run


def _finish_without_running(run: SegmentationRun, reason: str) -> SegmentationRun:
    run.status = SegmentationRun.Status.SKIPPED
    run.error = reason
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "error", "finished_at"])
    return run


def _compute(*, run: SegmentationRun, config: SegmentationSettings) -> None:
    """Steps 1–4 of the module docstring; the caller holds the lock and the transaction."""
    clock = time.perf_counter()
    tune_transaction()
    previous = (
        SegmentationRun.objects.filter(tenant_id=run.tenant_id, is_current=True)
        .values_list("pk", "as_of")
        .first()
    )
    # The first-performer days carry forward in time only: a run as of an earlier moment
    # than the current one starts afresh.
    carried = partner_segments_carried(
        run=run, carry_from_run_id=previous[0] if previous and previous[1] <= run.as_of else None
    )

    def partner_rows_and_statistics(written: RepSegmentsWritten) -> PartnerRows:
        # Steps 2 and 3 in NumPy, while the rep segments are written: no database here.
        rows = partner_segment_rows(run=run, sample=written.sample, carried=carried)
        summarise(
            run=run,
            sample=written.sample,
            views_cutoff=written.views_cutoff,
            results_cutoff=written.results_cutoff,
            days_to_first_performer=rows.days_to_first_performer,
        )
        return rows

    written = write_rep_segments(
        run=run,
        config=config,
        previous_run_id=previous[0] if previous else None,
        while_storing=partner_rows_and_statistics,
    )
    write_partner_segments(run=run, rows=written.alongside)

    becomes_current = previous is None or previous[1] <= run.as_of
    if becomes_current:
        SegmentationRun.objects.filter(tenant_id=run.tenant_id, is_current=True).update(
            is_current=False
        )
    run.is_current = becomes_current
    run.segments_ranked = True  # write_rep_segments gave every segment its position
    run.status = SegmentationRun.Status.SUCCEEDED
    run.finished_at = timezone.now()
    run.duration_ms = round((time.perf_counter() - clock) * 1000)
    run.error = ""
    run.save()


# --- nightly ---------------------------------------------------------------------------


def segmentation_nightly(
    *, tenant: Tenant, now: dt.datetime | None = None
) -> SegmentationRun | None:
    """The nightly run for the tenant's local as-of day, at most once per day.

    Guarantees: returns ``None`` without writing when a nightly run already succeeded for
    the tenant's local day of ``now``; otherwise runs ``segmentation_run`` (nightly) and
    returns it, whatever its status.
    """
    now = now or timezone.now()
    day = _local_date(tenant, now)
    if SegmentationRun.objects.filter(
        tenant=tenant,
        trigger=SegmentationRun.Trigger.NIGHTLY,
        status=SegmentationRun.Status.SUCCEEDED,
        as_of_date=day,
    ).exists():
        return None
    return segmentation_run(tenant=tenant, as_of=now, trigger=SegmentationRun.Trigger.NIGHTLY)


def segmentation_runs_prune(*, tenant: Tenant, now: dt.datetime | None = None) -> int:
    """Delete the tenant's runs older than its ``run_retention_days``; returns how many.

    Guarantees: the current run is never deleted, nor a run still pending or running.
    """
    now = now or timezone.now()
    config = segmentation_settings_get(tenant=tenant)
    cutoff = now - dt.timedelta(days=config.run_retention_days)
    old = SegmentationRun.objects.filter(
        tenant=tenant, is_current=False, created_at__lt=cutoff
    ).exclude(status__in=[SegmentationRun.Status.PENDING, SegmentationRun.Status.RUNNING])
    ids = list(old.values_list("pk", flat=True))
    if not ids:
        return 0
    with transaction.atomic():
        RepSegment.objects.filter(tenant=tenant, run_id__in=ids).delete()
        PartnerSegment.objects.filter(tenant=tenant, run_id__in=ids).delete()
        SegmentationRun.objects.filter(tenant=tenant, pk__in=ids).delete()
    return len(ids)
