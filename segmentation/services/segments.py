"""The statements that write a segmentation run's rows: steps 1 and 3 of the run (``runs``).

1. one ``CREATE TEMPORARY TABLE … AS SELECT`` aggregates the views (count, distinct
   materials and last view: on PostgreSQL from the views' roll-ups where that pays, see
   ``sql.views_cte``) and the deals (won in window, open pipeline) per employed rep
   (PostgreSQL may run it with parallel workers). One read of it brings the figures the
   placement needs into NumPy, as integers (a won amount in hundredths; on PostgreSQL
   packed in one ``bytea``: ``sql.fetch_columns``): the cut-offs (chosen from the
   per-axis counts and medians: ``segmentation/cutoffs.py``), the quadrant, a score and
   the 2:6:2 tier inside the partner are computed there, exactly (``quadrants``). Then
   one ``INSERT … SELECT`` writes every rep's segment from the temporary table joined to
   that placement (codes and scores; on PostgreSQL a temporary table filled by a binary
   ``COPY``: ``sql.computed_rows``) and to the rep's quadrant and tier in the previous
   current run. The NumPy columns are the run's ``Sample`` (step 2, ``statistics``):
   nothing is read back. Besides the
   views' roll-ups, the same SQL runs on PostgreSQL and SQLite (the backend branches
   are in ``sql``);
3. one ``INSERT … SELECT`` writes the per-partner figures (integer sums by NumPy, exact)
   with their statistics and the first-performer playbook, from one JSON parameter
   (``sql.json_rows``).

Edge cases, decided:

* **Activity**, one meaning for the activation rate, the quadrants, momentum and the
  dashboard: a rep is *active* with a material view in the view window, a won deal in the
  results window, or a deal created (Salesforce created date) in the view window. An old
  open deal alone is not activity: a deal opened long ago says nothing about now.
* **Cut-offs** (``segmentation/cutoffs.py``): by default the median of the reps with any
  views (never below the views floor) and, once enough reps have results, the median of
  those reps ("any result" before that). A fixed threshold per axis replaces them.
* **Quadrants**: high views and high results, performer (keyman ①); high views only,
  motivated (keyman ②); high results only, independent; neither but active, casual;
  not active, dormant. So a dormant rep is never active, and an active rep never
  dormant: the quadrant counts and the activation rate read the same activity.
* **Ties** share a tier: at the top boundary a tie goes up (a top rep needs a measure
  above zero), at the bottom boundary it goes down. The top and bottom are each
  ``floor(reps / 5)`` reps before ties, so a partner of 5 to 9 reps has one of each.
  Where most reps are idle, the bottom tier is large: that is the 1% problem showing, so
  every tier is shown with its actual share.
* **Reps who left** the partner (``is_employed=False``) are not segmented; their earlier
  segments stay in older runs. A rep who moved partner counts in the current partner.
* **Deleted deals** never count; deals without a rep count for no rep. Won deals count by
  ``close_date`` in the tenant's local calendar; open pipeline is as of the run.
* A partner with fewer employed reps than ``min_reps_for_tiers`` gets no tiers.
* **First performer**: a partner without a keyman ① is flagged, with its most motivated
  reps (most views in the window, then the latest view, then the rep id; at most five,
  only reps with a view) as candidates. The day of the first run that flagged it and of
  its first run with a keyman ① after that are carried from the previous current run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
from django.db import connection
from django.utils import timezone

from activities.models import Deal
from activities.services.rollups import view_rollups_mark
from reps.models import Rep
from segmentation.cutoffs import Cutoff, choose_results_cutoff, choose_views_cutoff
from segmentation.models import (
    PartnerSegment,
    Quadrant,
    RepSegment,
    SegmentationRun,
    SegmentationSettings,
    Tier,
)
from segmentation.services.quadrants import axis_stats, high, positions, quadrants, scores, tiers
from segmentation.services.sql import (
    code_names_sql,
    computed_rows,
    epoch_sql,
    fetch_columns,
    json_rows,
    last_view_sql,
    statement_alongside,
    views_cte,
    views_rollups_pay,
    without_index_scans,
)
from segmentation.services.statistics import Sample, spearman_grouped

__all__ = [
    "PartnerRows",
    "RepSegmentsWritten",
    "partner_segment_rows",
    "partner_segments_carried",
    "write_partner_segments",
    "write_rep_segments",
]

# The first-performer playbook's candidates per partner.
FIRST_PERFORMER_CANDIDATES = 5
# The reps of a partner's first page (50) and the one that tells a next page exists,
# kept with its figures (``PartnerSegment.first_listed_reps``).
FIRST_LISTED = 51


@dataclass(frozen=True)
class RepSegmentsWritten:
    """What step 1 wrote: the sample for steps 2 and 3 and the cut-offs it chose."""

    sample: Sample
    views_cutoff: Cutoff
    results_cutoff: Cutoff
    # What ``while_storing`` returned (``write_rep_segments``), if it was given.
    alongside: object = None


def write_rep_segments(
    *,
    run: SegmentationRun,
    config: SegmentationSettings,
    previous_run_id: int | None,
    rollups: bool | None = None,
    while_storing: Callable[[RepSegmentsWritten], object] | None = None,
) -> RepSegmentsWritten:
    """Step 1: every employed rep's segment; returns what was written, as the sample for
    steps 2 and 3, with the cut-offs used. ``rollups``: read the views' roll-ups
    (default: where they pay, see ``views_rollups_pay``). ``while_storing``, if given, is
    called with that sample and cut-offs while the segments are written, and its result
    returned as ``alongside``: on PostgreSQL it runs while the server executes the
    ``INSERT``, so it must not use the database (``sql.statement_alongside``).

    Three steps: the per-rep aggregates into a temporary table, a read of the figures
    the placement needs (integers: no decimal or datetime parsing), and one ``INSERT …
    SELECT`` joining the temporary table to the placement computed in NumPy
    (``quadrants``, sent by ``computed_rows``) and to the previous run."""
    ops = connection.ops
    as_of = run.as_of
    if timezone.is_naive(as_of):
        raise ValueError("as_of must be an aware datetime")
    as_of_date = run.as_of_date
    views_from = as_of - dt.timedelta(days=config.view_window_days)
    # The UTC days at the ends of the view window (the roll-ups' days are UTC days).
    first_day = views_from.astimezone(dt.UTC).date()
    last_day = as_of.astimezone(dt.UTC).date()
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
    }
    if connection.vendor == "postgresql" and rollups is not False:
        # (The views above it are read with the roll-ups: see ``views_cte``.)
        params["folded"] = view_rollups_mark(tenant_id=run.tenant_id)
    if rollups is None:
        rollups = views_rollups_pay(params)
    deal = Deal._meta.db_table
    rep = Rep._meta.db_table
    seg = RepSegment._meta.db_table
    won_in_window = "is_won AND close_date > %(won_from)s AND close_date <= %(as_of_date)s"
    created_in_window = "sf_created_at > %(views_from)s AND sf_created_at <= %(as_of)s"
    # A deal's amount in hundredths (``Deal.amount_corporate_cents``, a stored generated
    # column: exact, two decimal places), so the sums are integer sums. On the bench's
    # 113,000 deals the deals aggregate alone took 307 ms instead of 373 ms (medians of
    # 8) with two numeric sums, whose per-rep state is heavier and is copied between the
    # parallel workers; and 72 ms instead of 113 ms once the cents were stored rather
    # than computed per deal. Written back as ``cents / 100.0``: a numeric division on
    # PostgreSQL (exact), a float on SQLite as before.
    cents = Deal._meta.get_field("amount_corporate_cents").column
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
               -- In the corporate currency: an unconverted deal (NULL) adds nothing.
               SUM({cents}) FILTER (WHERE {won_in_window}) AS won_cents,
               COUNT(*) FILTER (WHERE {won_in_window}) AS won_deals,
               SUM({cents}) FILTER (WHERE NOT is_closed) AS open_cents,
               COUNT(*) FILTER (WHERE NOT is_closed) AS open_deals,
               COUNT(*) FILTER (WHERE {created_in_window}) AS created_deals
        FROM {deal}
        WHERE tenant_id = %(tenant)s AND rep_id IS NOT NULL AND NOT is_deleted
          AND (NOT is_closed OR ({won_in_window}) OR ({created_in_window}))
        GROUP BY rep_id
    )
    -- Active: a view in the view window, a win in the results window or a deal created
    -- in the view window. An open deal alone is not activity.
    SELECT x.rep_id, x.partner_id, x.views, x.materials,
           {last_view_sql(rollups=rollups, row="x")} AS last_view,
           x.won_cents, x.won_deals, x.open_cents, x.open_deals, x.created_deals,
           (x.views > 0 OR x.won_deals > 0 OR x.created_deals > 0) AS active
    FROM (
    SELECT r.id AS rep_id, r.partner_id,
           COALESCE(v.views, 0) AS views,
           COALESCE(v.materials, 0) AS materials,
           v.last_view, COALESCE(v.unsettled, FALSE) AS unsettled,
           COALESCE(d.won_cents, 0) AS won_cents,
           COALESCE(d.won_deals, 0) AS won_deals,
           COALESCE(d.open_cents, 0) AS open_cents,
           COALESCE(d.open_deals, 0) AS open_deals,
           COALESCE(d.created_deals, 0) AS created_deals
    FROM {rep} r
    LEFT JOIN v ON v.rep_id = r.id
    LEFT JOIN d ON d.rep_id = r.id
    WHERE r.tenant_id = %(tenant)s AND r.is_employed
    ) x
    """
    # Step 1b: what the placement needs, as integers (the won amount in hundredths: exact)
    # and the last view as seconds since 1970 (none: NaN), in the order of the (run, rep)
    # key.
    figures = {
        "rep_id": ("bigint", "rep_id"),
        "partner_id": ("bigint", "partner_id"),
        "views": ("bigint", "views"),
        "won_deals": ("bigint", "won_deals"),
        "won_cents": ("bigint", "won_cents"),
        "active": ("boolean", "active"),
        "last_view": ("double precision", epoch_sql("last_view")),
    }
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {base}")
        with without_index_scans():
            cursor.execute(aggregates, params)
    read = fetch_columns(figures, f"FROM {base}", order_by="rep_id")
    rep_ids, partner, views = read["rep_id"], read["partner_id"], read["views"]
    won_deals, won_cents, active = read["won_deals"], read["won_cents"], read["active"]
    last_view = read["last_view"]

    # Step 1c: the cut-offs, quadrants, score and tiers (``quadrants``), in integer
    # units: views and won deals as counts, a won amount in hundredths.
    if config.results_measure == SegmentationSettings.ResultsMeasure.WON_DEALS:
        results, scale = won_deals, 1
    else:
        results, scale = won_cents, 100
    views_cut = choose_views_cutoff(config=config, stats=axis_stats(views))
    results_cut = choose_results_cutoff(config=config, stats=axis_stats(results, scale))
    quadrant = quadrants(
        views_high=high(views, views_cut),
        results_high=high(results, results_cut, scale),
        active=active,
    )
    score = scores(views, results)
    position = positions(score, rep_ids)
    tier = tiers(
        partner=partner,
        measure={
            SegmentationSettings.TierMeasure.VIEWS: views,
            SegmentationSettings.TierMeasure.RESULTS: results,
        }.get(config.tier_measure, score),
        min_reps=int(config.min_reps_for_tiers),
    )

    # Step 1d: every segment in one INSERT … SELECT, the placement (codes; their names
    # in SQL) joined by rep, the previous current run's quadrant and tier beside it.
    quadrant_name, quadrant_params = code_names_sql("c.quadrant", Quadrant.values)
    tier_name, tier_params = code_names_sql("c.tier", Tier.values)  # (-1: none, NULL)
    placement = {
        "rep_id": ("bigint", rep_ids),
        "quadrant": ("smallint", quadrant),
        "tier": ("smallint", tier),
        "score": ("double precision", score),
        "position": ("bigint", position),
    }
    sample = Sample(
        partner=partner,
        views=views.astype(float),
        # (Hundredths to units: the nearest float to the exact amount.)
        results=results / scale,
        active=active,
        quadrant=quadrant,
        tier=tier,
        won_deals=won_deals,
        won_cents=won_cents,
        rep=rep_ids,
        position=position,
        last_view=last_view,
    )
    written = RepSegmentsWritten(sample, views_cut, results_cut)
    alongside = None
    with computed_rows("segmentation_placement", placement) as (rows_sql, rows_params):
        insert = f"""
            INSERT INTO {seg} (
                tenant_id, run_id, rep_id, partner_id, views, distinct_materials,
                last_viewed_at, won_amount, won_deals, open_pipeline_amount, open_deals,
                created_deals, is_active, quadrant, tier, score, position,
                previous_quadrant, previous_tier
            )
            SELECT %s, %s, b.rep_id, b.partner_id, b.views, b.materials, b.last_view,
                   b.won_cents / 100.0, b.won_deals, b.open_cents / 100.0, b.open_deals,
                   b.created_deals,
                   b.active, {quadrant_name}, {tier_name}, c.score, c.position,
                   p.quadrant, p.tier
            FROM {base} b
            JOIN {rows_sql} c ON c.rep_id = b.rep_id
            LEFT JOIN {seg} p ON p.tenant_id = %s AND p.run_id = %s AND p.rep_id = b.rep_id
            -- In the order of the (run, rep) key: each row appends to it (a row in the
            -- middle of the run's range costs about three times as much).
            ORDER BY b.rep_id
            """
        insert_params = [
            run.tenant_id,
            run.pk,
            *quadrant_params,
            *tier_params,
            *rows_params,
            run.tenant_id,
            previous_run_id,
        ]
        # The NumPy work that needs only the sample runs while the database writes.
        with statement_alongside(insert, insert_params):
            if while_storing is not None:
                alongside = while_storing(written)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {base}")
    return dataclasses.replace(written, alongside=alongside)


def _ranked_in_partners(
    codes: np.ndarray, groups: int, keys: tuple[np.ndarray, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sample's order by partner (code), then by ``keys`` (as ``np.lexsort`` takes
    them: the last decides first), with each row's partner code and rank inside its
    partner in that order. One sort, no loop over reps."""
    order = np.lexsort((*keys, codes))
    sorted_codes = codes[order]
    starts = np.searchsorted(sorted_codes, np.arange(groups))
    return order, sorted_codes, np.arange(len(order)) - starts[sorted_codes]


def _reps_per_partner(
    sample: Sample, codes: np.ndarray, groups: int, chosen: np.ndarray
) -> list[list[int]]:
    """The reps of ``chosen`` (sample rows in partner order), as one list per partner in
    code order (empty where none was chosen)."""
    bounds = np.searchsorted(codes[chosen], np.arange(1, groups))
    return [part.tolist() for part in np.split(sample.rep[chosen], bounds)]


def _first_performer_candidates(
    sample: Sample, codes: np.ndarray, groups: int, flagged: np.ndarray
) -> list[list[int]]:
    """Per partner (in code order), its most motivated reps when it is ``flagged``: most
    views, then the latest view, then the lowest rep id; only reps with a view; at most
    ``FIRST_PERFORMER_CANDIDATES``."""
    last = np.nan_to_num(sample.last_view, nan=-np.inf)
    order, sorted_codes, rank = _ranked_in_partners(
        codes, groups, (sample.rep, -last, -sample.views)
    )
    chosen = order[
        (rank < FIRST_PERFORMER_CANDIDATES) & (sample.views[order] > 0) & flagged[sorted_codes]
    ]
    return _reps_per_partner(sample, codes, groups, chosen)


def _first_listed(sample: Sample, codes: np.ndarray, groups: int) -> list[list[int]]:
    """Per partner (in code order), its first ``FIRST_LISTED`` reps in the run's default
    order (by position)."""
    order, _codes, rank = _ranked_in_partners(codes, groups, (sample.position,))
    return _reps_per_partner(sample, codes, groups, order[rank < FIRST_LISTED])


# Per partner, the as-of days a previous run carries forward: first flagged, first
# keyman ① after that (``partner_segments_carried``).
Carried = dict[int, tuple[dt.date | None, dt.date | None]]


def partner_segments_carried(*, run: SegmentationRun, carry_from_run_id: int | None) -> Carried:
    """The first-performer days the partner rows of ``carry_from_run_id`` carry (one
    query; none without a run)."""
    if carry_from_run_id is None:
        return {}
    return {
        partner: (flagged_on, performer_on)
        for partner, flagged_on, performer_on in PartnerSegment.objects.filter(
            tenant_id=run.tenant_id, run_id=carry_from_run_id
        ).values_list("partner_id", "first_flagged_on", "first_performer_on")
    }


def _first_performer_days(
    *,
    run: SegmentationRun,
    partner_ids: list[int],
    flagged: list[bool],
    carried: Carried,
) -> tuple[list[dt.date | None], list[dt.date | None], list[int | None]]:
    """Per partner: the as-of day of the first run that flagged it, of its first run with
    a keyman ① after that, and the days between, carried from a previous run's days
    (``partner_segments_carried``)."""
    today = run.as_of_date
    firsts, performers, days = [], [], []
    for partner, needs in zip(partner_ids, flagged, strict=True):
        flagged_on, performer_on = carried.get(partner, (None, None))
        if flagged_on is None and needs:
            flagged_on = today
        if flagged_on is not None and performer_on is None and not needs:
            performer_on = today
        firsts.append(flagged_on)
        performers.append(performer_on)
        days.append(
            max(0, (performer_on - flagged_on).days)
            if flagged_on is not None and performer_on is not None
            else None
        )
    return firsts, performers, days


# Step 3's columns, in the order of ``partner_segment_rows``' rows, with their SQL types.
_PARTNER_COLUMNS = {
    "partner_id": "bigint",
    "reps": "integer",
    "active_reps": "integer",
    "activation_rate": "double precision",
    "performers": "integer",
    "motivated": "integer",
    "independents": "integer",
    "casual": "integer",
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
    "needs_first_performer": "boolean",
    "first_performer_candidates": "jsonb",
    "first_listed_reps": "jsonb",
    "first_flagged_on": "date",
    "first_performer_on": "date",
    "days_to_first_performer": "integer",
}


@dataclass(frozen=True)
class PartnerRows:
    """Step 3's rows, computed: the JSON parameter of the insert (``None``: no partner),
    and each partner's days to a first keyman ① where known, for the run's median."""

    rows_json: str | None
    days_to_first_performer: list[int]


def partner_segment_rows(*, run: SegmentationRun, sample: Sample, carried: Carried) -> PartnerRows:
    """Step 3's per-partner figures, their statistics and the first-performer playbook,
    computed without the database (so while the rep segments are written).

    Summed from ``sample`` with NumPy (integer sums, so exact; the won amount in
    hundredths), the statistics by ``spearman_grouped``. The playbook's days are carried
    from ``carried``: the partner rows of the previous current run, when it is not newer
    than this one (``partner_segments_carried``).
    """
    partner_ids, codes = np.unique(sample.partner, return_inverse=True)
    groups = len(partner_ids)
    if not groups:
        return PartnerRows(None, [])

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
    flagged = quadrants[Quadrant.PERFORMER] == 0
    candidates = _first_performer_candidates(sample, codes, groups, flagged)
    listed = _first_listed(sample, codes, groups)
    firsts, performers, days = _first_performer_days(
        run=run,
        partner_ids=partner_ids.tolist(),
        flagged=flagged.tolist(),
        carried=carried,
    )

    statistics = [result or {} for result in correlated]
    # One row per partner, in the order of ``_PARTNER_COLUMNS``.
    rows = zip(
        partner_ids.tolist(),
        reps.tolist(),
        active.tolist(),
        (active / reps).tolist(),
        quadrants[Quadrant.PERFORMER].tolist(),
        quadrants[Quadrant.MOTIVATED].tolist(),
        quadrants[Quadrant.INDEPENDENT].tolist(),
        quadrants[Quadrant.CASUAL].tolist(),
        quadrants[Quadrant.DORMANT].tolist(),
        views.tolist(),
        [str(Decimal(cents).scaleb(-2)) for cents in won_cents.tolist()],
        won_deals.tolist(),
        tiered.tolist(),
        *(tiers[t].tolist() for t in Tier.values),
        *([r.get(key) for r in statistics] for key in ("n", "rho", "p_value", "ci_low", "ci_high")),
        flagged.tolist(),
        candidates,
        listed,
        [day.isoformat() if day else None for day in firsts],
        [day.isoformat() if day else None for day in performers],
        days,
        strict=True,
    )
    return PartnerRows(
        json.dumps(list(rows), allow_nan=False), [day for day in days if day is not None]
    )


def write_partner_segments(*, run: SegmentationRun, rows: PartnerRows) -> None:
    """Step 3: the per-partner rows (``partner_segment_rows``) in one statement, from one
    JSON parameter (``sql.json_rows``)."""
    if rows.rows_json is None:
        return
    names = ", ".join(_PARTNER_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {PartnerSegment._meta.db_table} (tenant_id, run_id, {names})"
            f" SELECT %s, %s, {names} FROM {json_rows(_PARTNER_COLUMNS)} AS v",
            [run.tenant_id, run.pk, rows.rows_json],
        )
