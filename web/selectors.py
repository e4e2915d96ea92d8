"""Reads behind the server-rendered pages that no other selector module provides.

Each function is one or two set-based queries whose count does not grow with the rows:
the pages' query-count tests rely on it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Max, Q, QuerySet, Sum
from django.db.models.functions import TruncWeek
from django.utils import timezone

from activities.models import DEAL_UNCONVERTED, Deal, MaterialView
from partners.models import Partner
from reps.models import Rep

__all__ = [
    "RepDealSummary",
    "partner_rep_counts",
    "rep_deal_summary",
    "rep_deals",
    "rep_materials_viewed",
    "rep_views_by_week",
]


def partner_rep_counts(*, partner: Partner) -> dict[str, int]:
    # No column but those of the (tenant, partner, is_employed) index, which then answers
    # alone (COUNT(*) and COUNT(is_employed), never null, rather than COUNT(id)).
    row = Rep.objects.filter(partner=partner).aggregate(
        total=Count("*"), employed=Count("is_employed", filter=Q(is_employed=True))
    )
    return {"total": row["total"] or 0, "employed": row["employed"] or 0}


def rep_views_by_week(
    *, rep: Rep, weeks: int = 26, now: dt.datetime | None = None
) -> list[tuple[dt.date, int]]:
    """Material views of ``rep`` per ISO week (tenant time zone) for the last ``weeks`` weeks,
    oldest first, weeks without views included as zero."""
    tz = rep.tenant.tzinfo
    now = (now or timezone.now()).astimezone(tz)
    this_monday = now.date() - dt.timedelta(days=now.weekday())
    first_monday = this_monday - dt.timedelta(weeks=weeks - 1)
    since = dt.datetime.combine(first_monday, dt.time.min, tzinfo=tz)
    rows = (
        MaterialView.objects.filter(rep=rep, viewed_at__gte=since)
        .annotate(week=TruncWeek("viewed_at", tzinfo=tz))
        .values("week")
        .annotate(n=Count("pk"))
        .order_by("week")
    )
    counts = {}
    for row in rows:
        week = row["week"]
        day = week.astimezone(tz).date() if isinstance(week, dt.datetime) else week
        counts[day] = row["n"]
    return [
        (first_monday + dt.timedelta(weeks=i), counts.get(first_monday + dt.timedelta(weeks=i), 0))
        for i in range(weeks)
    ]


def rep_materials_viewed(*, rep: Rep, limit: int = 15) -> list[dict]:
    """The materials ``rep`` opened most, with how often and when last."""
    return list(
        MaterialView.objects.filter(rep=rep)
        .values("material_id", "material__title", "material__kind")
        .annotate(views=Count("pk"), last_viewed=Max("viewed_at"), seconds=Sum("duration_seconds"))
        .order_by("-views", "-last_viewed")[:limit]
    )


def rep_deals(*, rep: Rep, limit: int = 25) -> QuerySet[Deal]:
    return Deal.objects.filter(rep=rep, is_deleted=False).order_by(
        "-close_date", "-system_modstamp"
    )[:limit]


@dataclass(frozen=True)
class RepDealSummary:
    open: int
    won: int
    won_amount: int  # in the corporate currency
    lost: int
    won_unconverted: int = 0  # won deals left out of won_amount: no rate for their currency


def rep_deal_summary(*, rep: Rep) -> RepDealSummary:
    row = Deal.objects.filter(rep=rep, is_deleted=False).aggregate(
        open=Count("pk", filter=Q(is_closed=False)),
        won=Count("pk", filter=Q(is_won=True)),
        won_amount=Sum("amount_corporate", filter=Q(is_won=True)),
        won_unconverted=Count("pk", filter=Q(is_won=True) & DEAL_UNCONVERTED),
        lost=Count("pk", filter=Q(is_closed=True, is_won=False)),
    )
    return RepDealSummary(
        open=row["open"] or 0,
        won=row["won"] or 0,
        won_amount=int(row["won_amount"] or 0),
        lost=row["lost"] or 0,
        won_unconverted=row["won_unconverted"] or 0,
    )


# --- Over the segmentation (enablement.selectors.segmentation) and workflows -------------

# Beyond this many reps the scatter draws an even sample: the chart stays readable and the
# JSON light at 50,000 reps. The counts and statistics always cover every rep.
SCATTER_MAX_POINTS = 6000


def rep_segment_history_rows(*, rep: Rep) -> list[dict]:
    """The rep's quadrant and tier in each kept run, newest first, ready to display, with
    the tier's actual share of the partner's reps in that run. Two queries."""
    from segmentation.models import Quadrant, Tier
    from segmentation.selectors import partner_tier_shares, rep_segment_history

    quadrants, tiers = dict(Quadrant.choices), dict(Tier.choices)
    segments = list(rep_segment_history(tenant=rep.tenant, rep_id=rep.pk)[:24])
    shares = partner_tier_shares(
        tenant=rep.tenant,
        partner_ids={seg.partner_id for seg in segments},
        run_ids={seg.run_id for seg in segments},
    )
    rows = []
    for seg in segments:
        measure = seg.run.settings_used.get("results_measure", "won_amount")
        rows.append(
            {
                "computed_at": seg.run.as_of,
                "quadrant": seg.quadrant,
                "quadrant_label": quadrants.get(seg.quadrant, seg.quadrant),
                "tier": seg.tier or "none",
                "tier_label": tiers.get(seg.tier, "—") if seg.tier else "—",
                "tier_share": shares.get((seg.run_id, seg.partner_id), {}).get(seg.tier),
                "views": seg.views,
                "results": seg.won_deals if measure == "won_deals" else seg.won_amount,
                "is_amount": measure != "won_deals",
            }
        )
    return rows


def scatter_payload(*, tenant, partner: Partner | None = None) -> dict:
    """The views × results chart: one dataset per quadrant, the two cut-off lines, axes.

    Each line is drawn where the run's cut-off separates low from high
    (``segmentation.cutoffs.cutoff_line``), never on an axis: "any win" on an amount sits
    half-way between zero and the smallest win drawn.
    """
    from django.utils.translation import gettext as _

    from pse_crm.templatetags.pse_ui import money, num
    from segmentation.cutoffs import cutoff_line
    from segmentation.models import CutoffRule, Quadrant
    from segmentation.selectors import segment_scatter_points, segmentation_current_run

    run = segmentation_current_run(tenant=tenant)
    points = segment_scatter_points(
        tenant=tenant, partner_id=partner.pk if partner is not None else None
    )
    total = len(points)
    if total > SCATTER_MAX_POINTS:
        step = total / SCATTER_MAX_POINTS
        points = [points[int(i * step)] for i in range(SCATTER_MAX_POINTS)]
    by_quadrant: dict[str, list[dict]] = {q: [] for q in Quadrant.values}
    for views, results, quadrant in points:
        by_quadrant.setdefault(quadrant, []).append({"x": views, "y": results})
    measure = (run.settings_used if run else {}).get("results_measure", "won_amount")
    counts = measure == "won_deals"
    x_line = y_line = None
    x_label, y_label = _("views cut-off"), _("results cut-off")
    if run is not None:
        x_line = cutoff_line(rule=run.views_cutoff_rule, value=run.views_cutoff, whole=True)
        positive = [y for _x, y, _q in points if y > 0]
        y_line = cutoff_line(
            rule=run.results_cutoff_rule,
            value=run.results_cutoff,
            whole=counts,
            smallest_high=min(positive) if positive else None,
        )
        if run.views_cutoff is not None:
            at_least = run.views_cutoff_rule in (CutoffRule.FLOOR, CutoffRule.THRESHOLD)
            x_label += f" ({'≥' if at_least else '>'} {num(run.views_cutoff, 0 if run.views_cutoff == int(run.views_cutoff) else 1)})"
        if run.results_cutoff_rule == CutoffRule.ANY:
            y_label += " (" + _("any win") + ")"
        elif run.results_cutoff is not None:
            shown = num(run.results_cutoff, 0) if counts else money(run.results_cutoff)
            at_least = run.results_cutoff_rule == CutoffRule.THRESHOLD
            y_label += f" ({'≥' if at_least else '>'} {shown})"
    return {
        "datasets": [
            {"key": q, "label": str(label), "data": by_quadrant.get(q, [])}
            for q, label in Quadrant.choices
        ],
        "thresholds": {"x": x_line, "y": y_line, "x_label": x_label, "y_label": y_label},
        "axes": {
            "x": _("Material views"),
            "y": _("Won deals") if counts else _("Won amount"),
        },
        "total": total,
        "shown": len(points),
        "point_radius": 2 if len(points) > 1000 else 4,
    }


def tier_bars(*, tenant, limit: int = 12) -> list[dict]:
    """2:6:2 per partner in the current run for the tiered partners with the most reps:
    one query on the run's partner figures."""
    from segmentation.models import PartnerSegment

    rows = (
        PartnerSegment.objects.filter(tenant=tenant, run__is_current=True, is_tiered=True)
        .values("partner_id", "partner__name", "top_reps", "middle_reps", "bottom_reps")
        .order_by("-reps", "partner__name")[:limit]
    )
    out = []
    for row in rows:
        top, middle, bottom = row.pop("top_reps"), row.pop("middle_reps"), row.pop("bottom_reps")
        total = top + middle + bottom
        whole = total or 1
        out.append(
            {
                **row,
                "top": top,
                "middle": middle,
                "bottom": bottom,
                "total": total,
                "top_pct": round(100 * top / whole, 1),
                "middle_pct": round(100 * middle / whole, 1),
                "bottom_pct": round(100 * bottom / whole, 1),
                "middle_end": round(100 * (top + middle) / whole, 1),
                # The actual shares, as the bar's label says them (ties share a tier).
                "top_share": top / whole,
                "middle_share": middle / whole,
                "bottom_share": bottom / whole,
            }
        )
    return out


def tier_counts_of(figures) -> dict[str, int]:
    """The partner's reps per tier in its figures of the current run (a ``PartnerSegment``,
    or None before the first run: empty), as the run counted them; ``"none"``: a partner
    too small to be tiered. From the figures the page has already read."""
    if figures is None:
        return {}
    if not figures.is_tiered:
        return {"none": figures.reps}
    return {"top": figures.top_reps, "middle": figures.middle_reps, "bottom": figures.bottom_reps}


def tier_rows(counts: dict[str, int]) -> list[dict]:
    """The three tiers with their count and actual share, as the partner page lists them."""
    from segmentation.models import Tier

    tiered = sum(counts.get(t, 0) for t in Tier.values)
    return [
        {
            "key": key,
            "label": label,
            "count": counts.get(key, 0),
            "share": counts.get(key, 0) / tiered if tiered else None,
        }
        for key, label in Tier.choices
    ]


def partners_with_current_segments() -> QuerySet[Partner]:
    """Every partner with its employed reps and its current-run figures (null before a
    run). One query; each figure is a correlated subquery, so a page of partners ordered
    by name computes them for that page only."""
    from django.db.models import IntegerField, OuterRef, Subquery
    from django.db.models.functions import Coalesce

    from segmentation.models import PartnerSegment

    current = PartnerSegment.objects.filter(partner=OuterRef("pk"), run__is_current=True)
    employed = (
        Rep.objects.filter(partner=OuterRef("pk"), is_employed=True)
        .order_by()
        .values("partner")
        .annotate(n=Count("*"))  # from the (tenant, partner, is_employed) index alone
        .values("n")
    )
    return Partner.objects.annotate(
        rep_count=Coalesce(Subquery(employed, output_field=IntegerField()), 0),
        active_reps=Subquery(current.values("active_reps")[:1]),
        activation_rate=Subquery(current.values("activation_rate")[:1]),
        performers=Subquery(current.values("performers")[:1]),
        motivated=Subquery(current.values("motivated")[:1]),
        needs_first_performer=Subquery(current.values("needs_first_performer")[:1]),
        days_to_first_performer=Subquery(current.values("days_to_first_performer")[:1]),
    ).order_by("name", "pk")


def partner_segment_current(*, partner: Partner):
    """The partner's figures in the current run, with the run (one query)."""
    from segmentation.models import PartnerSegment

    return (
        PartnerSegment.objects.filter(partner=partner, run__is_current=True)
        .select_related("run")
        .first()
    )


def partner_know_how_shares(*, partner: Partner, limit: int = 20) -> list:
    from knowhow.models import KnowHowShare

    return list(
        KnowHowShare.objects.filter(partner=partner)
        .select_related("know_how", "rep", "shared_by")
        .order_by("-shared_on", "-pk")[:limit]
    )


# --- The first-performer playbook ---------------------------------------------------------


def first_performer_playbook(*, tenant, partner: Partner | None = None, limit: int = 8) -> list:
    """Partners of the current run without a keyman ① (one, or the ``limit`` with the most
    reps), each with its candidates for intensive support, most motivated first: their
    views and last view in the run, and whether they already have an open support task.
    Three queries whatever the number of partners."""
    from segmentation.models import PartnerSegment, RepSegment
    from support.models import SupportTask

    flagged = PartnerSegment.objects.filter(
        tenant=tenant, run__is_current=True, needs_first_performer=True
    ).select_related("partner")
    if partner is not None:
        flagged = flagged.filter(partner=partner)
    flagged = list(flagged.order_by("-reps", "partner__name")[:limit])
    wanted = {rep_id for figures in flagged for rep_id in figures.first_performer_candidates}
    # By the flagged figures' own run (the current one), not a join on is_current: the
    # (run, rep) key then finds each candidate, where the join read every kept run's rows.
    segments = {
        seg.rep_id: seg
        for seg in RepSegment.objects.filter(
            tenant=tenant, run_id__in={figures.run_id for figures in flagged}, rep_id__in=wanted
        ).select_related("rep")
    }
    busy = set(
        SupportTask.objects.filter(rep_id__in=wanted, status__in=SupportTask.OPEN_STATUSES)
        .values_list("rep_id", flat=True)
        .distinct()
    )
    out = []
    for figures in flagged:
        candidates = [
            {
                "rep": segments[rep_id].rep,
                "views": segments[rep_id].views,
                "last_viewed_at": segments[rep_id].last_viewed_at,
                "has_open_task": rep_id in busy,
            }
            for rep_id in figures.first_performer_candidates
            if rep_id in segments and segments[rep_id].rep.is_employed
        ]
        out.append(
            {
                "partner": figures.partner,
                "figures": figures,
                "candidates": candidates,
                "to_support": [c["rep"] for c in candidates if not c["has_open_task"]],
            }
        )
    return out
