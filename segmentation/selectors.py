"""Reads of the keyman segmentation. Every reader of "the segments" reads the current run.

The current run is one indexed lookup (``is_current``, unique per tenant). It flips in the
same transaction that wrote the run's segments, so these selectors never see a half run.
Figures here are correlations, not causation.
"""

from __future__ import annotations

from django.db.models import F, OrderBy, QuerySet, Subquery

from pse_crm.models import Tenant
from segmentation.models import (
    PartnerSegment,
    Quadrant,
    RepSegment,
    SegmentationRun,
    SegmentationSettings,
)

__all__ = [
    "keymen_default_order",
    "partner_tier_shares",
    "rep_segment_history",
    "rep_segments_current",
    "rep_segments_of_partner",
    "rep_segments_placed_at",
    "segment_scatter_points",
    "segmentation_current_run",
    "segmentation_runs",
    "segmentation_settings_get",
]

# The value of ``tier`` filters that selects reps of partners too small to be tiered.
UNTIERED = "none"


def segmentation_settings_get(*, tenant: Tenant) -> SegmentationSettings:
    """The tenant's settings; an unsaved row holding the defaults when none was saved."""
    found = SegmentationSettings.objects.filter(tenant=tenant).first()
    return found if found is not None else SegmentationSettings(tenant=tenant)


def segmentation_current_run(*, tenant: Tenant) -> SegmentationRun | None:
    """The tenant's current (latest complete) run, or ``None`` before the first one."""
    return SegmentationRun.objects.filter(tenant=tenant, is_current=True).first()


def segmentation_runs(*, tenant: Tenant) -> QuerySet[SegmentationRun]:
    """Every kept run of the tenant, newest first."""
    return SegmentationRun.objects.filter(tenant=tenant).order_by("-created_at", "-pk")


def rep_segments_of_partner(qs: QuerySet[RepSegment], *, partner_id: int) -> QuerySet[RepSegment]:
    """Narrow ``qs`` to one partner's reps: those whose segment (the partner at the run)
    and whose rep record (the partner now) both name ``partner_id``.

    Led by the rep: the partner's reps, then one probe each of the ``(run, rep)`` key
    (milliseconds for a partner of 500 reps). An index on ``(run, partner)`` would answer
    the segment's side alone, but every run would pay for it on each of its 50,000 rows.
    So a rep who moved to another partner since the run leaves the old partner's list at
    once and joins the new one's with the next run (the run's partner figures still count
    them where they were).
    """
    return rep_segments_placed_at(qs, partner_id=partner_id).filter(rep__partner_id=partner_id)


def rep_segments_placed_at(qs: QuerySet[RepSegment], *, partner_id: int) -> QuerySet[RepSegment]:
    """Narrow ``qs`` to the segments whose run placed the rep at ``partner_id``, whatever
    the rep's partner now: a superset of ``rep_segments_of_partner`` that needs no join
    (``DeferredJoinQuerySet.wrap(..., superset=...)`` reads a partner's first pages from
    it)."""
    return qs.filter(partner_id=partner_id)


def rep_segments_current(
    *,
    tenant: Tenant,
    quadrant: str | None = None,
    tier: str | None = None,
    partner_id: int | None = None,
    run_id: int | None = None,
) -> QuerySet[RepSegment]:
    """The current run's rep segments (or ``run_id``'s: the run a page already read its
    figures from), optionally narrowed; empty before the first run.

    ``tier="none"`` selects reps of partners too small to be tiered.
    """
    # The run as a subquery (one query; no current run gives NULL, so no rows), not a
    # join: the planner then treats its id as a known value, so an index leading with
    # ``(run, partner, score DESC)`` would serve the partner page's first rows in order
    # (25 ms -> 2 ms at 18,000 reps); it is not kept, as it costs every run ~10%.
    if run_id is None:
        run_id = Subquery(
            SegmentationRun.objects.filter(tenant=tenant, is_current=True).values("pk")[:1]
        )
    qs = RepSegment.objects.filter(tenant=tenant, run_id=run_id).select_related("rep", "partner")
    if quadrant:
        qs = qs.filter(quadrant=quadrant)
    if tier == UNTIERED:
        qs = qs.filter(tier__isnull=True)
    elif tier:
        qs = qs.filter(tier=tier)
    if partner_id is not None:
        qs = rep_segments_of_partner(qs, partner_id=partner_id)
    return qs


def segment_scatter_points(
    *, tenant: Tenant, partner_id: int | None = None
) -> list[tuple[int, float, str]]:
    """``(views, results, quadrant)`` per rep of the current run, for the views × results chart.

    Results are in the run's results measure (won amount or won deals). One query.
    """
    run = segmentation_current_run(tenant=tenant)
    if run is None:
        return []
    measure = run.settings_used.get("results_measure", "won_amount")
    column = "won_deals" if measure == "won_deals" else "won_amount"
    qs = RepSegment.objects.filter(tenant=tenant, run=run)
    if partner_id is not None:
        qs = rep_segments_of_partner(qs, partner_id=partner_id)
    return [
        (views, float(results), quadrant)
        for views, results, quadrant in qs.order_by().values_list("views", column, "quadrant")
    ]


def rep_segment_history(*, tenant: Tenant, rep_id: int) -> QuerySet[RepSegment]:
    """A rep's segment in every kept successful run, newest first (movement over time)."""
    # One probe of the (run, rep) key per kept run.
    runs = SegmentationRun.objects.filter(
        tenant=tenant, status=SegmentationRun.Status.SUCCEEDED
    ).values("pk")
    return (
        RepSegment.objects.filter(tenant=tenant, run_id__in=runs, rep_id=rep_id)
        .select_related("run")
        .order_by("-run__as_of", "-run_id")
    )


def keymen_default_order(
    *, quadrant: str | None, results_measure: str | None, ranked: bool = False
) -> tuple[str | OrderBy, ...]:
    """The keymen list's order when the reader chose none: the list to act on.

    Keyman ② (motivated) by motivation: most views in the window first, then the latest
    view. Keyman ① (performers) by results (the run's results measure), then views.
    Otherwise by score. The rep id breaks ties, so pages never overlap.

    ``ranked``: the segments are one run's and the run wrote their positions
    (``SegmentationRun.segments_ranked``). The order by score is then its rows'
    ``position``, the same order as one integer (a deep page's sort of 48,000 rows:
    30 → 16 ms).
    """
    if quadrant == Quadrant.MOTIVATED:
        return (F("views").desc(), F("last_viewed_at").desc(nulls_last=True), "rep_id")
    if quadrant == Quadrant.PERFORMER:
        won = "won_deals" if results_measure == "won_deals" else "won_amount"
        return (f"-{won}", "-views", "rep_id")
    return ("position",) if ranked else ("-score", "rep_id")


def partner_tier_shares(
    *, tenant: Tenant, partner_ids, run_ids=None
) -> dict[tuple[int, int], dict[str, float]]:
    """``{(run, partner): {tier: share}}``: each tier's actual share of the partner's
    tiered reps (0..1) in the current run, or in ``run_ids``; one query. Ties share a tier,
    so a "middle" tier need not hold 60%: the share says what it holds."""
    qs = PartnerSegment.objects.filter(tenant=tenant, partner_id__in=partner_ids, is_tiered=True)
    qs = qs.filter(run_id__in=run_ids) if run_ids is not None else qs.filter(run__is_current=True)
    out = {}
    for run_id, partner_id, top, middle, bottom in qs.values_list(
        "run_id", "partner_id", "top_reps", "middle_reps", "bottom_reps"
    ):
        total = top + middle + bottom
        if total:
            out[(run_id, partner_id)] = {
                "top": top / total,
                "middle": middle / total,
                "bottom": bottom / total,
            }
    return out
