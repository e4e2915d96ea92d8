"""The keyman segmentation engine: views × results for every rep of a tenant.

``segmentation_run`` computes one run for one tenant as of one moment:

1. one ``CREATE TEMPORARY TABLE … AS SELECT`` aggregates the views (count, distinct
   materials and last view: on PostgreSQL from the views' roll-ups where that pays, see
   ``_views_cte``) and the deals (won in window, open pipeline) per employed rep
   (PostgreSQL may run it with parallel workers); then one ``INSERT … SELECT`` writes
   every rep's segment with the medians (or thresholds), the quadrant, a score, the 2:6:2
   tier inside the partner (window functions) and the rep's quadrant and tier in the
   previous current run. Besides the views' roll-ups, the same SQL runs on PostgreSQL and
   SQLite;
2. that ``INSERT`` returns ``(partner, views, results, …)`` per rep (``RETURNING``: no
   read back) into NumPy columns for the counts and the statistics (Spearman's ρ,
   vectorised with NumPy/SciPy; correlation, not causation);
3. one ``INSERT … SELECT`` writes the per-partner figures (integer sums by NumPy, exact)
   with their statistics, from one JSON parameter (``jsonb_array_elements`` on
   PostgreSQL, ``json_each`` on SQLite);
4. the run becomes current (``is_current`` flips).

On PostgreSQL the run's transaction raises ``work_mem`` (sorts stay in memory), makes
parallel plans cheaper, turns JIT compilation off (it cost more than it saved) and does
not wait for the commit's WAL flush (derived rows: a crash loses at most this run, and
the previous one stays current); the aggregates run without plain index scans (see
``_without_index_scans``). These, the views' roll-ups and the JSON reader are the only
backend branches, besides the advisory lock.

All four steps are one transaction: readers see the previous complete run or the new
complete run, never a half. A failure rolls them back and the run is recorded as
``failed`` with its error; the previous run stays current.

Two runs of one tenant never overlap: on PostgreSQL a session advisory lock keyed on the
tenant is taken before the run starts; a second run that finds it held is recorded as
``skipped`` and says so. (SQLite, the single-process demo, serialises writers itself.)

Edge cases, decided:

* **Activity**: a rep is *active* with any material view in the view window, any won deal
  in the results window, or any open deal. Medians are taken over active reps only.
* **High** means strictly above the median (or at least the fixed threshold) *and* more
  than zero. So a rep with no activity at all is ``dormant``; when more than half of the
  active reps have zero results the median is zero and "high results" means "any".
* **Ties** share a tier: at the top boundary a tie goes up (a top rep needs a measure
  above zero), at the bottom boundary it goes down. The top and bottom are each
  ``floor(reps / 5)`` reps before ties, so a partner of 5 to 9 reps has one of each.
  Where most reps are idle, the bottom tier is large: that is the 1% problem showing.
* **Reps who left** the partner (``is_employed=False``) are not segmented; their earlier
  segments stay in older runs. A rep who moved partner counts in the current partner.
* **Deleted deals** never count; deals without a rep count for no rep. Won deals count by
  ``close_date`` in the tenant's local calendar; open pipeline is as of the run.
* A partner with fewer employed reps than ``min_reps_for_tiers`` gets no tiers.
* **Statistics** (tenant and each partner) need at least 10 reps and some spread on both
  axes; otherwise they are empty. The 95% interval uses Fisher's z with the
  Fieller–Hartley–Pearson variance 1.06 / (n − 3).
* The **current run** is the latest complete run by ``as_of``: a late retry of an older
  as-of moment is kept in history but does not replace a newer current run.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from scipy import stats as scipy_stats

from activities.models import Deal, MaterialView, RepMaterialSpan, RepViewDay
from pse_crm.models import Tenant, User
from reps.models import Rep
from segmentation.models import (
    PartnerSegment,
    Quadrant,
    RepSegment,
    SegmentationRun,
    SegmentationSettings,
    Tier,
)
from segmentation.selectors import segmentation_settings_get

__all__ = [
    "MIN_REPS_FOR_STATISTICS",
    "segmentation_nightly",
    "segmentation_run",
    "segmentation_run_request",
    "segmentation_runs_prune",
    "segmentation_settings_update",
    "spearman",
    "spearman_grouped",
]

log = logging.getLogger(__name__)

MIN_REPS_FOR_STATISTICS = 10
# First key of the two-key advisory lock: "segmentation" (the second key is the tenant).
_LOCK_NAMESPACE = 0x5E6A


# --- settings ------------------------------------------------------------------------


def segmentation_settings_update(
    *, tenant: Tenant, user: User | None = None, **values: object
) -> SegmentationSettings:
    """Save the tenant's segmentation settings (creating the row on first save).

    Guarantees: the row is validated (``full_clean``) before it is written, so an invalid
    value raises ``ValidationError`` and nothing changes. Only fields of the model are
    accepted. Runs already made keep the settings they were computed with.
    """
    obj = segmentation_settings_get(tenant=tenant)
    allowed = {f.name for f in SegmentationSettings._meta.get_fields() if f.concrete} - {
        "id",
        "tenant",
        "updated_at",
        "updated_by",
    }
    unknown = set(values) - allowed
    if unknown:
        raise TypeError(f"unknown settings: {sorted(unknown)}")
    for name, value in values.items():
        setattr(obj, name, value)
    obj.updated_by = user
    obj.full_clean(exclude=["tenant"], validate_constraints=False)
    obj.save()
    return obj


# --- runs ------------------------------------------------------------------------------


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
    if connection.vendor == "postgresql":
        local_settings = {
            # The run sorts and hashes ~one row per rep several times: keep that in memory
            # instead of spilling to disk at the 4 MB default.
            "work_mem": "64MB",
            # Parallel workers are worth their start-up for the aggregates over the views.
            "parallel_setup_cost": "100",
            "parallel_tuple_cost": "0.01",
            # The statements are few and run once: compiling them costs more than it saves.
            "jit": "off",
            # Derived rows: a crash in the instant after commit loses this run, never
            # consistency (the previous run stays current), so skip the wait for the flush.
            "synchronous_commit": "off",
        }
        # For this transaction only (``SET LOCAL``), in one round trip.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT " + ", ".join(["set_config(%s, %s, true)"] * len(local_settings)),
                [value for pair in local_settings.items() for value in pair],
            )
    previous = (
        SegmentationRun.objects.filter(tenant_id=run.tenant_id, is_current=True)
        .values_list("pk", "as_of")
        .first()
    )
    sample = _write_rep_segments(
        run=run, config=config, previous_run_id=previous[0] if previous else None
    )
    _write_partner_segments(run=run, sample=sample)
    _summarise(run=run, config=config, sample=sample)

    becomes_current = previous is None or previous[1] <= run.as_of
    if becomes_current:
        SegmentationRun.objects.filter(tenant_id=run.tenant_id, is_current=True).update(
            is_current=False
        )
    run.is_current = becomes_current
    run.status = SegmentationRun.Status.SUCCEEDED
    run.finished_at = timezone.now()
    run.duration_ms = round((time.perf_counter() - clock) * 1000)
    run.error = ""
    run.save()


def _results_column(config: SegmentationSettings) -> str:
    if config.results_measure == SegmentationSettings.ResultsMeasure.WON_DEALS:
        return "won_deals"
    return "won_amount"


def _high_condition(column: str, rule: str, cut: str, threshold: str) -> str:
    """SQL for "high" on one axis: above the median / at least the threshold, and > 0."""
    if rule == SegmentationSettings.HighRule.THRESHOLD:
        return f"({column} >= %({threshold})s AND {column} > 0)"
    return f"({column} > cuts.{cut} AND {column} > 0)"


def _median_cte(name: str, column: str, base: str) -> str:
    """A portable median (PostgreSQL and SQLite): the middle one or two of the sorted
    values of active reps (``LIMIT``/``OFFSET`` from ``active_count``), averaged. NULL
    when no rep is active."""
    return f"""{name} AS (
        SELECT AVG({column}) AS cut FROM (
            SELECT {column} FROM {base} WHERE active ORDER BY {column}
            LIMIT 2 - (SELECT c FROM active_count) %% 2
            OFFSET ((SELECT c FROM active_count) - 1) / 2
        ) middle
    )"""


@contextmanager
def _without_index_scans() -> Iterator[None]:
    """On PostgreSQL, no plain index scans for the block (this transaction only).

    The aggregates read a large share of a table (the deals, the roll-ups; all the
    window's views without them); an index on (tenant, rep, …) offers the rows in rep
    order, and with some statistics the planner takes it over a parallel scan: on the
    views, 2.5 million random heap reads, measured 4.9 s instead of 1.9 s. Bitmap scans
    (the roll-ups' part-days, the few probes) stay allowed.
    """
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('enable_indexscan', 'off', true)")
    yield
    # (After an error the transaction rolls back, and the setting with it.)
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('enable_indexscan', 'on', true)")


def _views_cte(*, rollups: bool) -> str:
    """SQL for the CTE ``v``: per rep, ``views`` and ``materials`` (distinct) in the view
    window ``(views_from, as_of]`` and ``last_view``, the last view at or before ``as_of``
    (in the window or before it; without the roll-ups, only in the window: see
    ``_last_view_sql``). A rep may have no row (the caller joins it to the reps).

    With ``rollups`` (PostgreSQL, where triggers keep them): from ``RepViewDay`` and
    ``RepMaterialSpan`` instead of every view. On the demo generator's data that reads
    about 0.65 million roll-up rows and the ~1% of views on the window's two part-days,
    instead of sorting 1.5 million views to count distinct materials. Exact for any
    ``as_of``:

    * views: the whole UTC days strictly inside the window from ``RepViewDay``, the two
      part-days at its ends from the views themselves (an index range each);
    * distinct materials: a (rep, material) pair counts when its last view is in the
      window, or its first view is; when neither settles it (first before the window,
      last after ``as_of``: only a run as of the past meets many) the views are asked;
    * last view: the latest pair's last view at or before ``as_of``; a rep with a pair
      that also has views after ``as_of`` is ``unsettled``, and the segment statement
      asks the views (one index probe, see ``_last_view_sql``).

    Without: one pass over the window's views (SQLite; PostgreSQL where the roll-ups
    would not pay, see ``_views_rollups_pay``).
    """
    mv = MaterialView._meta.db_table
    if not rollups:
        # (A rep without a view in the window has no row; the segment statement asks the
        # views for its last view before the window: see ``_last_view_sql``.)
        return f"""
    v AS (
        SELECT rep_id, COUNT(*) AS views, COUNT(DISTINCT material_id) AS materials,
               MAX(viewed_at) AS last_view, FALSE AS unsettled
        FROM {mv}
        WHERE tenant_id = %(tenant)s AND viewed_at > %(views_from)s AND viewed_at <= %(as_of)s
        GROUP BY rep_id
    )"""
    return f"""
    days AS (
        SELECT rep_id, SUM(views) AS views
        FROM {RepViewDay._meta.db_table}
        WHERE tenant_id = %(tenant)s AND day > %(first_day)s AND day < %(last_day)s
        GROUP BY rep_id
    ),
    part_days AS (
        SELECT rep_id, COUNT(*) AS views
        FROM {mv}
        WHERE tenant_id = %(tenant)s
          AND ((viewed_at > %(views_from)s AND viewed_at < %(first_day_end)s)
               OR (viewed_at >= %(last_day_start)s AND viewed_at <= %(as_of)s))
        GROUP BY rep_id
    ),
    pairs AS (
        -- No subquery in here, so that workers can aggregate it in parallel.
        SELECT rep_id,
               COUNT(*) FILTER (
                   WHERE first_viewed_at <= %(as_of)s AND last_viewed_at > %(views_from)s
                     AND (last_viewed_at <= %(as_of)s OR first_viewed_at > %(views_from)s)
               ) AS materials,
               MAX(last_viewed_at) FILTER (WHERE last_viewed_at <= %(as_of)s) AS last_settled,
               BOOL_OR(first_viewed_at <= %(as_of)s AND last_viewed_at > %(as_of)s)
                   AS unsettled
        FROM {RepMaterialSpan._meta.db_table}
        WHERE tenant_id = %(tenant)s
        GROUP BY rep_id
    ),
    straddling AS (
        -- Pairs viewed before the window and after as_of: in the window only if viewed
        -- in it too.
        SELECT p.rep_id, COUNT(*) AS materials
        FROM {RepMaterialSpan._meta.db_table} p
        WHERE p.tenant_id = %(tenant)s
          AND p.first_viewed_at <= %(views_from)s AND p.last_viewed_at > %(as_of)s
          AND EXISTS (
              SELECT FROM {mv} m
              WHERE m.tenant_id = %(tenant)s AND m.rep_id = p.rep_id
                AND m.material_id = p.material_id
                AND m.viewed_at > %(views_from)s AND m.viewed_at <= %(as_of)s
          )
        GROUP BY p.rep_id
    ),
    v AS (
        SELECT pairs.rep_id,
               COALESCE(days.views, 0) + COALESCE(part_days.views, 0) AS views,
               pairs.materials + COALESCE(straddling.materials, 0) AS materials,
               pairs.last_settled AS last_view, pairs.unsettled
        FROM pairs
        LEFT JOIN days ON days.rep_id = pairs.rep_id
        LEFT JOIN part_days ON part_days.rep_id = pairs.rep_id
        LEFT JOIN straddling ON straddling.rep_id = pairs.rep_id
    )"""


def _last_view_sql(*, rollups: bool) -> str:
    """The segment's last view, in the segment statement (``t`` is the rep's row), where
    index scans are allowed: the few reps the aggregates could not settle ask the views
    (one backward index probe each)."""
    probe = f"""(
               SELECT MAX(mv2.viewed_at) FROM {MaterialView._meta.db_table} mv2
               WHERE mv2.tenant_id = %(tenant)s AND mv2.rep_id = t.rep_id
                 AND mv2.viewed_at <= %(as_of)s
           )"""
    if rollups:
        # A rep with views after as_of: its settled pairs may miss a later one before it.
        return f"CASE WHEN t.unsettled THEN {probe} ELSE t.last_view END"
    # Without a view in the window: the last one before it.
    return f"COALESCE(t.last_view, {probe})"


def _estimated_rows(sql: str, params: dict) -> float:
    """The planner's estimate of the rows ``sql`` returns (no execution)."""
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        (plan,) = cursor.fetchone()  # psycopg parses the JSON
    return float(plan[0]["Plan"]["Plan Rows"])


def _views_rollups_pay(params: dict) -> bool:
    """Whether to read the views' roll-ups rather than the window's views.

    Only PostgreSQL keeps them (triggers; SQLite, the demo, has none). Both ways give the
    same figures (a property test holds them to it); which is faster depends on the
    data. The roll-ups win where views crowd onto a few reps and materials (the demo
    generator's 1.5 million views in the window make 0.4 million rep-days and 0.25
    million rep-material pairs: a run in 1.2 s instead of 2.3 s), and lose where views
    spread thinly (the segmentation bench's own 0.5 million views in the window sit
    among 1.3 million pairs). So: the roll-ups when the planner estimates fewer of their
    rows to read than views in the window, a pair that needs the views weighing as 20
    views (a run as of the past meets many). Four plans, no execution: a few ms.
    """
    if connection.vendor != "postgresql":
        return False
    views = _estimated_rows(
        f"SELECT 1 FROM {MaterialView._meta.db_table} WHERE tenant_id = %(tenant)s"
        " AND viewed_at > %(views_from)s AND viewed_at <= %(as_of)s",
        params,
    )
    days = _estimated_rows(
        f"SELECT 1 FROM {RepViewDay._meta.db_table} WHERE tenant_id = %(tenant)s"
        " AND day > %(first_day)s AND day < %(last_day)s",
        params,
    )
    pairs = _estimated_rows(
        f"SELECT 1 FROM {RepMaterialSpan._meta.db_table} WHERE tenant_id = %(tenant)s", params
    )
    # Pairs viewed before the window and after as_of (a run as of the past) each ask the
    # views of their rep in the window: weigh them as many views.
    straddling = _estimated_rows(
        f"SELECT 1 FROM {RepMaterialSpan._meta.db_table} WHERE tenant_id = %(tenant)s"
        " AND first_viewed_at <= %(views_from)s AND last_viewed_at > %(as_of)s",
        params,
    )
    return days + pairs + 20 * straddling < views


def _write_rep_segments(
    *,
    run: SegmentationRun,
    config: SegmentationSettings,
    previous_run_id: int | None,
    rollups: bool | None = None,
) -> _Sample:
    """Step 1: every employed rep's segment, in one set-based statement; returns what the
    statement wrote, as the sample for steps 2 and 3. ``rollups``: read the views'
    roll-ups (default: where they pay, see ``_views_rollups_pay``)."""
    ops = connection.ops
    as_of = run.as_of
    if timezone.is_naive(as_of):
        raise ValueError("as_of must be an aware datetime")
    as_of_date = run.as_of_date
    views_from = as_of - dt.timedelta(days=config.view_window_days)
    # The UTC days at the ends of the view window (the roll-ups' days are UTC days).
    first_day = views_from.astimezone(dt.UTC).date()
    last_day = as_of.astimezone(dt.UTC).date()
    tier_measure = {
        SegmentationSettings.TierMeasure.VIEWS: "views",
        SegmentationSettings.TierMeasure.RESULTS: "results",
    }.get(config.tier_measure, "score")
    params = {
        "tenant": run.tenant_id,
        "run": run.pk,
        "previous_run": previous_run_id,
        "as_of": ops.adapt_datetimefield_value(as_of),
        "views_from": ops.adapt_datetimefield_value(views_from),
        "first_day": ops.adapt_datefield_value(first_day),
        "last_day": ops.adapt_datefield_value(last_day),
        "first_day_end": ops.adapt_datetimefield_value(
            dt.datetime.combine(first_day + dt.timedelta(days=1), dt.time(), dt.UTC)
        ),
        "last_day_start": ops.adapt_datetimefield_value(
            dt.datetime.combine(last_day, dt.time(), dt.UTC)
        ),
        "as_of_date": ops.adapt_datefield_value(as_of_date),
        "won_from": ops.adapt_datefield_value(
            as_of_date - dt.timedelta(days=config.results_window_days)
        ),
        "views_threshold": int(config.views_threshold),
        # A float keeps SQLite comparing numbers with numbers.
        "results_threshold": float(config.results_threshold),
        "min_reps": int(config.min_reps_for_tiers),
        "performer": Quadrant.PERFORMER.value,
        "motivated": Quadrant.MOTIVATED.value,
        "independent": Quadrant.INDEPENDENT.value,
        "dormant": Quadrant.DORMANT.value,
        "top": Tier.TOP.value,
        "middle": Tier.MIDDLE.value,
        "bottom": Tier.BOTTOM.value,
    }
    if rollups is None:
        rollups = _views_rollups_pay(params)
    views_high = _high_condition("m.views", config.views_high_rule, "vcut", "views_threshold")
    results_high = _high_condition(
        "m.results", config.results_high_rule, "rcut", "results_threshold"
    )
    deal = Deal._meta.db_table
    rep = Rep._meta.db_table
    seg = RepSegment._meta.db_table
    won_in_window = "is_won AND close_date > %(won_from)s AND close_date <= %(as_of_date)s"
    base = "segmentation_base"
    # Step 1a: the per-rep aggregates, into one temporary table. A plain CREATE … AS
    # SELECT, which PostgreSQL may run with parallel workers (an INSERT … SELECT never
    # is).
    aggregates = f"""
    CREATE TEMPORARY TABLE {base} AS
    WITH {_views_cte(rollups=rollups)},
    d AS (
        SELECT rep_id,
               -- FILTER: no addition of zeros per row (NULL when none: COALESCE below).
               SUM(amount) FILTER (WHERE {won_in_window}) AS won_amount,
               COUNT(*) FILTER (WHERE {won_in_window}) AS won_deals,
               SUM(amount) FILTER (WHERE NOT is_closed) AS open_amount,
               COUNT(*) FILTER (WHERE NOT is_closed) AS open_deals
        FROM {deal}
        WHERE tenant_id = %(tenant)s AND rep_id IS NOT NULL AND NOT is_deleted
          AND (NOT is_closed OR ({won_in_window}))
        GROUP BY rep_id
    )
    SELECT x.*, x.{_results_column(config)} AS results,
           (x.views > 0 OR x.won_deals > 0 OR x.open_deals > 0) AS active
    FROM (
    SELECT r.id AS rep_id, r.partner_id,
           COALESCE(v.views, 0) AS views,
           COALESCE(v.materials, 0) AS materials,
           v.last_view, COALESCE(v.unsettled, FALSE) AS unsettled,
           COALESCE(d.won_amount, 0) AS won_amount,
           COALESCE(d.won_deals, 0) AS won_deals,
           COALESCE(d.open_amount, 0) AS open_amount,
           COALESCE(d.open_deals, 0) AS open_deals
    FROM {rep} r
    LEFT JOIN v ON v.rep_id = r.id
    LEFT JOIN d ON d.rep_id = r.id
    WHERE r.tenant_id = %(tenant)s AND r.is_employed
    ) x
    """
    # Step 1b: medians, quadrants, score and tiers, written in one INSERT … SELECT. The
    # rows carry every column through (no join back to the temporary table), and the
    # statement returns what the statistics and the partner figures need (no read back).
    segments = f"""
    WITH
    active_count AS (SELECT COUNT(*) AS c FROM {base} WHERE active),
    {_median_cte("vmed", "views", base)},
    {_median_cte("rmed", "results", base)},
    cuts AS (
        SELECT COALESCE((SELECT cut FROM vmed), 0) AS vcut,
               COALESCE((SELECT cut FROM rmed), 0) AS rcut
    ),
    -- PERCENT_RANK() by views and by results, without sorting every rep's row twice:
    -- per distinct value, the reps below it (a sort of the distinct values: few for the
    -- views, about one per active rep for a won amount), joined back on the value.
    -- (rank - 1) / (n - 1) as PERCENT_RANK computes it; 0 for one rep.
    total AS (SELECT COUNT(*) AS n FROM {base}),
    views_below AS (
        SELECT views, SUM(COUNT(*)) OVER (ORDER BY views) - COUNT(*) AS below
        FROM {base} GROUP BY views
    ),
    results_below AS (
        SELECT results, SUM(COUNT(*)) OVER (ORDER BY results) - COUNT(*) AS below
        FROM {base} GROUP BY results
    ),
    q AS (
        SELECT m.*,
               CASE WHEN {views_high} THEN 1 ELSE 0 END AS vh,
               CASE WHEN {results_high} THEN 1 ELSE 0 END AS rh,
               (CASE WHEN total.n > 1
                     THEN CAST(vb.below AS double precision) / (total.n - 1) ELSE 0 END
                + CASE WHEN total.n > 1
                       THEN CAST(rb.below AS double precision) / (total.n - 1) ELSE 0 END
               ) * 50.0 AS score
        FROM {base} m CROSS JOIN cuts CROSS JOIN total
        JOIN views_below vb ON vb.views = m.views
        JOIN results_below rb ON rb.results = m.results
    ),
    t AS (
        SELECT q.*,
               COUNT(*) OVER (PARTITION BY q.partner_id) AS n,
               RANK() OVER w AS rd,
               -- Reps at or above this one (its ties included): n minus it, plus one, is
               -- the ascending rank, from the same sort as the descending one.
               COUNT(*) OVER w AS at_or_above
        FROM q
        WINDOW w AS (PARTITION BY q.partner_id ORDER BY q.{tier_measure} DESC)
    )
    INSERT INTO {seg} (
        tenant_id, run_id, rep_id, partner_id, views, distinct_materials, last_viewed_at,
        won_amount, won_deals, open_pipeline_amount, open_deals, is_active,
        quadrant, tier, score, previous_quadrant, previous_tier
    )
    SELECT %(tenant)s, %(run)s, t.rep_id, t.partner_id, t.views,
           t.materials, {_last_view_sql(rollups=rollups)},
           t.won_amount, t.won_deals, t.open_amount, t.open_deals, t.active,
           CASE WHEN t.vh = 1 AND t.rh = 1 THEN %(performer)s
                WHEN t.vh = 1 THEN %(motivated)s
                WHEN t.rh = 1 THEN %(independent)s
                ELSE %(dormant)s END,
           CASE WHEN t.n < %(min_reps)s THEN NULL
                WHEN t.{tier_measure} > 0 AND t.rd <= t.n / 5 THEN %(top)s
                WHEN t.n - t.at_or_above + 1 <= t.n / 5 THEN %(bottom)s
                ELSE %(middle)s END,
           t.score, p.quadrant, p.tier
    FROM t
    LEFT JOIN {seg} p
      ON p.tenant_id = %(tenant)s AND p.run_id = %(previous_run)s AND p.rep_id = t.rep_id
    -- In the order of the (run, rep) key: each row appends to it (a row in the middle
    -- of the run's range costs about three times as much).
    ORDER BY t.rep_id
    RETURNING partner_id, views, CAST({_results_column(config)} AS double precision),
              is_active, quadrant, tier, won_deals, CAST(ROUND(won_amount * 100) AS bigint)
    """
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {base}")
        with _without_index_scans():
            cursor.execute(aggregates, params)
        cursor.execute(segments, params)
        rows = cursor.fetchall()
        cursor.execute(f"DROP TABLE {base}")
    return _Sample.from_rows(rows)


_QUADRANT_CODES = {quadrant: code for code, quadrant in enumerate(Quadrant.values)}
_TIER_CODES = {None: -1} | {tier: code for code, tier in enumerate(Tier.values)}


@dataclass(frozen=True)
class _Sample:
    """The run's rep segments as NumPy columns, for the statistics and partner figures."""

    partner: np.ndarray  # partner id (int64)
    views: np.ndarray  # float64
    results: np.ndarray  # float64: won amount or won deals, as the run measured them
    active: np.ndarray  # bool
    quadrant: np.ndarray  # int8: the index of the quadrant in ``Quadrant.values``
    tier: np.ndarray  # int8: the index of the tier in ``Tier.values``; -1 for none
    won_deals: np.ndarray  # int64
    won_cents: np.ndarray  # int64: the won amount in hundredths, exact

    @classmethod
    def from_rows(cls, rows: list[tuple]) -> _Sample:
        """From ``(partner, views, results, active, quadrant, tier, won deals, won
        amount × 100)`` rows, a column at a time (``zip(*rows)`` costs several times
        more: it allocates a tuple per rep twice over)."""
        n = len(rows)

        def column(values: Iterator, dtype: type) -> np.ndarray:
            return np.fromiter(values, dtype=dtype, count=n)

        return cls(
            partner=column((row[0] for row in rows), np.int64),
            views=column((row[1] for row in rows), float),
            results=column((row[2] for row in rows), float),
            active=column((row[3] for row in rows), bool),
            quadrant=column((_QUADRANT_CODES[row[4]] for row in rows), np.int8),
            tier=column((_TIER_CODES[row[5]] for row in rows), np.int8),
            won_deals=column((row[6] for row in rows), np.int64),
            won_cents=column((row[7] for row in rows), np.int64),
        )

    def quadrant_is(self, quadrant: str) -> np.ndarray:
        return self.quadrant == _QUADRANT_CODES[quadrant]

    def tier_is(self, tier: str | None) -> np.ndarray:
        return self.tier == _TIER_CODES[tier]


def _json_rows(columns: dict[str, str]) -> str:
    """A subquery of typed columns over one JSON parameter, a list of lists (one per row).

    A single parameter whatever the number of rows: a ``VALUES`` list would bind one per
    value, and converting thousands of placeholders costs the client more than the
    statement costs the server (SQLite also caps them at 32,766).
    """
    if connection.vendor == "postgresql":
        selected = ", ".join(
            f"CAST(e.value ->> {i} AS {sql_type}) AS {name}"
            for i, (name, sql_type) in enumerate(columns.items())
        )
        return f"(SELECT {selected} FROM jsonb_array_elements(CAST(%s AS jsonb)) AS e(value))"
    selected = ", ".join(
        f"json_extract(e.value, '$[{i}]') AS {name}" for i, name in enumerate(columns)
    )
    return f"(SELECT {selected} FROM json_each(%s) AS e)"


def _write_partner_segments(*, run: SegmentationRun, sample: _Sample) -> None:
    """Step 3: per-partner figures and their statistics, in one statement.

    Summed from ``sample`` with NumPy (integer sums, so exact; the won amount in
    hundredths), the statistics by ``spearman_grouped``; inserted from one JSON parameter.
    """
    partner_ids, codes = np.unique(sample.partner, return_inverse=True)
    groups = len(partner_ids)
    if not groups:
        return

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(codes, weights=mask, minlength=groups).astype(np.int64)

    reps = np.bincount(codes, minlength=groups)
    active = count(sample.active)
    quadrants = {q: count(sample.quadrant_is(q)) for q in Quadrant.values}
    views = count(sample.views)
    won_deals = count(sample.won_deals)
    won_cents = np.zeros(groups, dtype=np.int64)
    np.add.at(won_cents, codes, sample.won_cents)
    tiers = {t: count(sample.tier_is(t)) for t in Tier.values}
    tiered = sum(tiers.values()) > 0
    correlated = spearman_grouped(codes, sample.views, sample.results, groups)

    statistics = [result or {} for result in correlated]
    # One row per partner, in the order of ``columns`` below.
    rows = zip(
        partner_ids.tolist(),
        reps.tolist(),
        active.tolist(),
        (active / reps).tolist(),
        *(quadrants[q].tolist() for q in Quadrant.values),
        views.tolist(),
        [str(Decimal(cents).scaleb(-2)) for cents in won_cents.tolist()],
        won_deals.tolist(),
        tiered.tolist(),
        *(tiers[t].tolist() for t in Tier.values),
        *([r.get(key) for r in statistics] for key in ("n", "rho", "p_value", "ci_low", "ci_high")),
        strict=True,
    )
    columns = {
        "partner_id": "bigint",
        "reps": "integer",
        "active_reps": "integer",
        "activation_rate": "double precision",
        "performers": "integer",
        "motivated": "integer",
        "independents": "integer",
        "dormant": "integer",
        "views": "integer",
        "won_amount": "numeric(18, 2)",
        "won_deals": "integer",
        "is_tiered": "boolean",
        "top_reps": "integer",
        "middle_reps": "integer",
        "bottom_reps": "integer",
        "correlation_n": "integer",
        "correlation_rho": "double precision",
        "correlation_p_value": "double precision",
        "correlation_ci_low": "double precision",
        "correlation_ci_high": "double precision",
    }
    names = ", ".join(columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {PartnerSegment._meta.db_table} (tenant_id, run_id, {names})"
            f" SELECT %s, %s, {names} FROM {_json_rows(columns)} AS v",
            [run.tenant_id, run.pk, json.dumps(list(rows), allow_nan=False)],
        )


def _apply_correlation(obj: SegmentationRun | PartnerSegment, result: dict | None) -> None:
    result = result or {}
    obj.correlation_n = result.get("n")
    obj.correlation_rho = result.get("rho")
    obj.correlation_p_value = result.get("p_value")
    obj.correlation_ci_low = result.get("ci_low")
    obj.correlation_ci_high = result.get("ci_high")


def spearman(xs: Sequence[float] | np.ndarray, ys: Sequence[float] | np.ndarray) -> dict | None:
    """Spearman's ρ of two equal-length samples with its p-value and a 95% interval.

    ``None`` with fewer than ``MIN_REPS_FOR_STATISTICS`` values or when either side is
    constant (ρ is undefined). Correlation, not causation.
    """
    xs_, ys_ = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    return spearman_grouped(np.zeros(len(xs_), dtype=np.int64), xs_, ys_, 1)[0]


def spearman_grouped(
    codes: np.ndarray, xs: np.ndarray, ys: np.ndarray, groups: int
) -> list[dict | None]:
    """``spearman`` for many samples at once: sample ``codes[i]`` (0 … ``groups`` − 1)
    holds the pair ``(xs[i], ys[i])``; returns one result (or ``None``) per sample.

    ρ is Pearson's r of the average ranks (ties share the mean rank), the two-sided
    p-value comes from Student's t with n − 2 degrees of freedom (as SciPy's
    ``spearmanr``), and the 95% interval from Fisher's z with the Fieller–Hartley–Pearson
    standard error √(1.06 / (n − 3)). Vectorised over all samples: ranks by one sort,
    sums by ``bincount`` (a thousand partners cost milliseconds, not a SciPy call each).
    """
    if groups == 0:
        return []
    if len(codes) == 0:
        return [None] * groups
    sizes = np.bincount(codes, minlength=groups)
    rx, distinct_x = _ranks_by_group(codes, xs, groups)
    ry, distinct_y = _ranks_by_group(codes, ys, groups)
    rx -= (np.bincount(codes, weights=rx, minlength=groups) / np.maximum(sizes, 1))[codes]
    ry -= (np.bincount(codes, weights=ry, minlength=groups) / np.maximum(sizes, 1))[codes]
    sxy = np.bincount(codes, weights=rx * ry, minlength=groups)
    sxx = np.bincount(codes, weights=rx * rx, minlength=groups)
    syy = np.bincount(codes, weights=ry * ry, minlength=groups)
    usable = (sizes >= MIN_REPS_FOR_STATISTICS) & (distinct_x >= 2) & (distinct_y >= 2)
    n = sizes.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.clip(sxy / np.sqrt(sxx * syy), -1.0, 1.0)
        t = rho * np.sqrt((n - 2) / ((1.0 - rho) * (1.0 + rho)))
        p_values = 2 * scipy_stats.t.sf(np.abs(t), n - 2)
        half = 1.959963984540054 * np.sqrt(1.06 / (n - 3))
    z = np.arctanh(np.clip(np.nan_to_num(rho), -0.999999, 0.999999))
    lows, highs = np.tanh(z - half), np.tanh(z + half)
    return [
        {
            "n": int(sizes[i]),
            "rho": float(rho[i]),
            "p_value": float(p_values[i]),
            "ci_low": float(lows[i]),
            "ci_high": float(highs[i]),
        }
        if usable[i]
        else None
        for i in range(groups)
    ]


def _ranks_by_group(codes: np.ndarray, values: np.ndarray, groups: int) -> tuple:
    """Average ranks (1-based, ties share the mean) within each group, in input order,
    and the number of distinct values per group. Sort-based, no loop over groups."""
    order = np.lexsort((values, codes))
    g, v = codes[order], values[order]
    idx = np.arange(len(v))
    group_start = np.r_[True, g[1:] != g[:-1]]
    position = idx - np.maximum.accumulate(np.where(group_start, idx, 0)) + 1.0
    tie_start = group_start | np.r_[True, v[1:] != v[:-1]]
    tie = np.cumsum(tie_start) - 1
    mean_position = np.bincount(tie, weights=position) / np.bincount(tie)
    ranks = np.empty(len(v))
    ranks[order] = mean_position[tie]
    return ranks, np.bincount(g[tie_start], minlength=groups)


def _summarise(*, run: SegmentationRun, config: SegmentationSettings, sample: _Sample) -> None:
    """Step 2: counts, the cut-offs used and the tenant's statistics, onto ``run``."""
    run.rep_count = len(sample.views)
    run.active_rep_count = int(sample.active.sum())
    run.quadrant_counts = {q: int(sample.quadrant_is(q).sum()) for q in Quadrant.values}
    run.tier_counts = {t: int(sample.tier_is(t).sum()) for t in Tier.values}
    run.tier_counts["untiered"] = int(sample.tier_is(None).sum())

    if config.views_high_rule == SegmentationSettings.HighRule.THRESHOLD:
        run.views_cutoff = Decimal(config.views_threshold)
    else:
        run.views_cutoff = _median(sample.views[sample.active])
    if config.results_high_rule == SegmentationSettings.HighRule.THRESHOLD:
        run.results_cutoff = Decimal(config.results_threshold)
    else:
        run.results_cutoff = _median(sample.results[sample.active])
    _apply_correlation(run, spearman(sample.views, sample.results))


def _median(values: np.ndarray) -> Decimal | None:
    """The median the statement used (same definition), to four places; None if empty."""
    if not len(values):
        return None
    return Decimal(repr(float(np.median(values)))).quantize(Decimal("0.0001"))


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
