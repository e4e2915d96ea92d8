"""The statements that write a segmentation run's rows: steps 1 and 3 of the run (``runs``).

1. one ``CREATE TEMPORARY TABLE … AS SELECT`` aggregates the views (count, distinct
   materials and last view: on PostgreSQL from the views' roll-ups where that pays, see
   ``sql.views_cte``) and the deals (won in window, open pipeline) per employed rep
   (PostgreSQL may run it with parallel workers); then one ``INSERT … SELECT`` writes
   every rep's segment with the medians (or thresholds), the quadrant, a score, the 2:6:2
   tier inside the partner (window functions) and the rep's quadrant and tier in the
   previous current run, and returns what it wrote as the run's ``Sample`` (step 2,
   ``statistics``). Besides the views' roll-ups, the same SQL runs on PostgreSQL and
   SQLite (the backend branches are in ``sql``);
3. one ``INSERT … SELECT`` writes the per-partner figures (integer sums by NumPy, exact)
   with their statistics, from one JSON parameter (``sql.json_rows``).

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
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import numpy as np
from django.db import connection
from django.utils import timezone

from activities.models import Deal
from reps.models import Rep
from segmentation.models import (
    PartnerSegment,
    Quadrant,
    RepSegment,
    SegmentationRun,
    SegmentationSettings,
    Tier,
)
from segmentation.services.sql import (
    high_condition,
    json_rows,
    last_view_sql,
    median_cte,
    results_column,
    views_cte,
    views_rollups_pay,
    without_index_scans,
)
from segmentation.services.statistics import Sample, spearman_grouped

__all__ = ["write_partner_segments", "write_rep_segments"]


def write_rep_segments(
    *,
    run: SegmentationRun,
    config: SegmentationSettings,
    previous_run_id: int | None,
    rollups: bool | None = None,
) -> Sample:
    """Step 1: every employed rep's segment, in one set-based statement; returns what the
    statement wrote, as the sample for steps 2 and 3. ``rollups``: read the views'
    roll-ups (default: where they pay, see ``views_rollups_pay``)."""
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
        rollups = views_rollups_pay(params)
    views_high = high_condition("m.views", config.views_high_rule, "vcut", "views_threshold")
    results_high = high_condition(
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
    WITH {views_cte(rollups=rollups)},
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
    SELECT x.*, x.{results_column(config)} AS results,
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
    {median_cte("vmed", "views", base)},
    {median_cte("rmed", "results", base)},
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
           t.materials, {last_view_sql(rollups=rollups)},
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
    RETURNING partner_id, views, CAST({results_column(config)} AS double precision),
              is_active, quadrant, tier, won_deals, CAST(ROUND(won_amount * 100) AS bigint)
    """
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {base}")
        with without_index_scans():
            cursor.execute(aggregates, params)
        cursor.execute(segments, params)
        rows = cursor.fetchall()
        cursor.execute(f"DROP TABLE {base}")
    return Sample.from_rows(rows)


def write_partner_segments(*, run: SegmentationRun, sample: Sample) -> None:
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
            f" SELECT %s, %s, {names} FROM {json_rows(columns)} AS v",
            [run.tenant_id, run.pk, json.dumps(list(rows), allow_nan=False)],
        )
