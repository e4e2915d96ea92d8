"""Hearing and know-how reads, and how far each piece of know-how reached."""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

from django.db import connection
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils.translation import gettext as _

from activities.models import Deal, MaterialView
from knowhow.effect import (
    DEFAULT_EFFECT_DAYS,
    METRICS,
    MIN_COMPARISON,
    MIN_MATCHED,
    NOT_COMPUTED,
    Activity,
    EffectInputs,
    matching_rule,
    status_message,
)
from knowhow.models import Hearing, KnowHow, KnowHowEffect, KnowHowShare
from pse_crm.calendar import day_start
from pse_crm.models import Tenant
from pse_crm.tenancy import require_scope
from reps.models import Rep
from segmentation.models import RepSegment, SegmentationRun

DEFAULT_REACH_DAYS = 30


def hearing_list(
    *, rep_id: int | None = None, partner_id: int | None = None, tag: str | None = None
) -> QuerySet[Hearing]:
    """The tenant's hearings, newest first, optionally for one rep, partner or tag."""
    qs = Hearing.objects.select_related("rep", "rep__partner", "held_by")
    if rep_id is not None:
        qs = qs.filter(rep_id=rep_id)
    if partner_id is not None:
        qs = qs.filter(rep__partner_id=partner_id)
    if tag:
        qs = hearings_with_tag(qs, tag=tag)
    return qs


def hearings_with_tag(qs: QuerySet[Hearing], *, tag: str) -> QuerySet[Hearing]:
    """Narrow ``qs`` to hearings carrying ``tag`` (exactly, as stored: trimmed).

    JSON containment on PostgreSQL; SQLite (the demo) has no such lookup, so there the
    tags are read and matched here (a few per hearing).
    """
    tag = tag.strip()
    if connection.vendor == "postgresql":
        return qs.filter(tags__contains=[tag])
    ids = [pk for pk, tags in qs.values_list("pk", "tags") if tag in (tags or [])]
    return qs.filter(pk__in=ids)


def _days_by_rep(pairs: Iterable[tuple[int, dt.date]]) -> dict[int, list[dt.date]]:
    out: dict[int, set[dt.date]] = defaultdict(set)
    for rep_id, day in pairs:
        if day is not None:
            out[rep_id].add(day)
    return {rep_id: sorted(days) for rep_id, days in out.items()}


def _any_in(days: list[dt.date], start: dt.date, end: dt.date) -> bool:
    i = bisect.bisect_left(days, start)
    return i < len(days) and days[i] <= end


def know_how_reach(
    *,
    tenant: Tenant,
    days: int = DEFAULT_REACH_DAYS,
    know_how_ids: Iterable[int] | None = None,
) -> dict[int, dict[str, int]]:
    """Per know-how: how many reps it reached, and how many of them became active or won
    within ``days`` after.

    A share with a partner reaches every rep of that partner; a share with a rep reaches
    that rep. A rep is counted once per know-how, from the first share that reached them
    (day 0). *Active*: a material view or a new deal (``sf_created_at``) on days 0..N;
    *won*: a won deal closed on days 0..N (tenant time zone; deleted deals never count).
    Correlation, not causation: a rep may have become active for other reasons.

    Returns ``{know_how_id: {"shares", "reached", "became_active", "won"}}``, with every
    know-how of ``know_how_ids`` (or of the tenant) present. Five queries in all.
    """
    require_scope(tenant)
    kh_qs = KnowHow.objects.all()
    if know_how_ids is not None:
        kh_qs = kh_qs.filter(pk__in=list(know_how_ids))
    result = {
        pk: {"shares": 0, "reached": 0, "became_active": 0, "won": 0}
        for pk in kh_qs.values_list("pk", flat=True)
    }
    shares = list(
        KnowHowShare.objects.filter(know_how_id__in=list(result)).values_list(
            "know_how_id", "partner_id", "rep_id", "shared_on"
        )
    )
    if not shares:
        return result
    for share in shares:
        result[share[0]]["shares"] += 1
    first_reached = {
        (kh, rep_id): day
        for kh, reps in _first_reach(shares).items()
        for rep_id, day in reps.items()
    }

    rep_ids = {rep for _, rep in first_reached}
    since = min(first_reached.values())
    until = max(first_reached.values()) + dt.timedelta(days=days)
    lo, hi = day_start(tenant, since), day_start(tenant, until + dt.timedelta(days=1))
    view_days = MaterialView.objects.filter(
        rep_id__in=rep_ids, viewed_at__gte=lo, viewed_at__lt=hi
    ).annotate(day=TruncDate("viewed_at", tzinfo=tenant.tzinfo))
    deals = Deal.objects.filter(rep_id__in=rep_ids, is_deleted=False)
    opened = deals.filter(sf_created_at__gte=lo, sf_created_at__lt=hi).annotate(
        day=TruncDate("sf_created_at", tzinfo=tenant.tzinfo)
    )
    active_days = _days_by_rep(
        [
            *view_days.order_by().values_list("rep_id", "day").distinct(),
            *opened.order_by().values_list("rep_id", "day").distinct(),
        ]
    )
    win_days = _days_by_rep(
        deals.filter(is_won=True, close_date__gte=since, close_date__lte=until)
        .order_by()
        .values_list("rep_id", "close_date")
        .distinct()
    )
    for (kh, rep_id), start in first_reached.items():
        end = start + dt.timedelta(days=days)
        row = result[kh]
        row["reached"] += 1
        if _any_in(active_days.get(rep_id, []), start, end):
            row["became_active"] += 1
        if _any_in(win_days.get(rep_id, []), start, end):
            row["won"] += 1
    return result


def _first_reach(
    shares: Iterable[tuple[int, int, int | None, dt.date]],
) -> dict[int, dict[int, dt.date]]:
    """Know-how id -> rep id -> the first share of it that reached the rep (one query)."""
    shares = list(shares)
    partner_ids = {p for _, p, rep, _ in shares if rep is None}
    reps_of_partner: dict[int, list[int]] = defaultdict(list)
    for rep_id, partner_id in Rep.objects.filter(partner_id__in=partner_ids).values_list(
        "pk", "partner_id"
    ):
        reps_of_partner[partner_id].append(rep_id)
    first: dict[int, dict[int, dt.date]] = defaultdict(dict)
    for kh, partner_id, rep_id, shared_on in shares:
        for reached in [rep_id] if rep_id is not None else reps_of_partner[partner_id]:
            if reached not in first[kh] or shared_on < first[kh][reached]:
                first[kh][reached] = shared_on
    return first


def _merged(spans: Iterable[tuple[dt.date, dt.date]]) -> list[tuple[dt.date, dt.date]]:
    """Half-open day spans, overlapping ones merged (one range condition each)."""
    out: list[list[dt.date]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(start, end) for start, end in out]


def know_how_effect_inputs(*, tenant: Tenant, days: int, today: dt.date) -> EffectInputs:
    """Everything ``knowhow.effect.estimate`` reads for the tenant, in six queries.

    The shares and the reps they reached; the succeeded segmentation runs and, of those in
    use at some measurable day 0, each segmented rep's quadrant and tier; the views per rep
    and local day and the won deals' close days, in the windows around those days 0 only.
    """
    require_scope(tenant)
    first_reach = _first_reach(
        KnowHowShare.objects.values_list("know_how_id", "partner_id", "rep_id", "shared_on")
    )
    runs = list(
        SegmentationRun.objects.filter(status=SegmentationRun.Status.SUCCEEDED)
        .order_by("as_of_date", "as_of", "pk")
        .values_list("as_of_date", "pk")
    )
    inputs = EffectInputs(
        days=days,
        today=today,
        first_reach=first_reach,
        runs=runs,
        segments={},
        activity=Activity(view_days=(), win_days=(), days=days),
    )
    day0s = {
        day for reps in first_reach.values() for day in reps.values() if inputs.measurable(day)
    }
    run_ids = {inputs.run_at(day) for day in day0s} - {None}
    if not run_ids:
        return inputs
    segments: dict[int, dict[int, tuple[str, str | None]]] = defaultdict(dict)
    for run_id, rep_id, quadrant, tier in RepSegment.objects.filter(run_id__in=run_ids).values_list(
        "run_id", "rep_id", "quadrant", "tier"
    ):
        segments[run_id][rep_id] = (quadrant, tier)
    spans = _merged((day - dt.timedelta(days=days), day + dt.timedelta(days=days)) for day in day0s)
    in_views = Q()
    in_wins = Q()
    for start, end in spans:
        in_views |= Q(viewed_at__gte=day_start(tenant, start), viewed_at__lt=day_start(tenant, end))
        in_wins |= Q(close_date__gte=start, close_date__lt=end)
    view_days = (
        MaterialView.objects.filter(in_views, rep_id__isnull=False)
        .annotate(day=TruncDate("viewed_at", tzinfo=tenant.tzinfo))
        .order_by()
        .values_list("rep_id", "day")
        .annotate(n=Count("pk"))
    )
    win_days = (
        Deal.objects.filter(in_wins, is_won=True, is_deleted=False, rep_id__isnull=False)
        .order_by()
        .values_list("rep_id", "close_date")
        .distinct()
    )
    inputs.segments = dict(segments)
    inputs.activity = Activity(view_days=view_days, win_days=win_days, days=days)
    return inputs


def know_how_effect_get(
    *, tenant: Tenant, know_how_id: int | None, days: int
) -> KnowHowEffect | None:
    """The stored effect of one know-how (``None``: of all know-how), or ``None`` before
    the first computation."""
    require_scope(tenant)
    rows = KnowHowEffect.objects.filter(days=days)
    if know_how_id is None:
        return rows.filter(know_how__isnull=True).first()
    return rows.filter(know_how_id=know_how_id).first()


COUNTS = (
    "reached",
    "waiting",
    "unmatched_segment",
    "unmatched_comparison",
    "matched",
    "comparison_reps",
)


def know_how_effect(
    *, tenant: Tenant, know_how_id: int | None, days: int = DEFAULT_EFFECT_DAYS
) -> dict:
    """The effect as the page and the API show it (one query): status and why there is
    no figure, the counts, the matching rule, and per outcome the figures (``None`` unless
    measured). ``know_how_id`` ``None``: all know-how together."""
    row = know_how_effect_get(tenant=tenant, know_how_id=know_how_id, days=days)
    status = row.status if row is not None else NOT_COMPUTED
    measured = status == KnowHowEffect.Status.MEASURED
    out = {
        "know_how": know_how_id,
        "days": days,
        "status": status,
        "measured": measured,
        "message": status_message(status, days=days),
        "as_of_date": row.as_of_date if row else None,
        "computed_at": row.computed_at if row else None,
        **{name: getattr(row, name) if row else 0 for name in COUNTS},
        "min_matched": MIN_MATCHED,
        "min_comparison": MIN_COMPARISON,
        "matching": matching_rule(days),
        "caution": _("Correlation, not causation."),
    }
    for name in METRICS:
        out[name] = row.metrics.get(name) if measured else None
    return out
