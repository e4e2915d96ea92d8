"""Hearing and know-how reads, and how far each piece of know-how reached."""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

from django.db import connection
from django.db.models import QuerySet
from django.db.models.functions import TruncDate

from activities.models import Deal, MaterialView
from knowhow.models import Hearing, KnowHow, KnowHowShare
from pse_crm.calendar import day_start
from pse_crm.models import Tenant
from pse_crm.tenancy import require_scope
from reps.models import Rep

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
    partner_ids = {p for _, p, rep, _ in shares if rep is None}
    reps_of_partner: dict[int, list[int]] = defaultdict(list)
    for rep_id, partner_id in Rep.objects.filter(partner_id__in=partner_ids).values_list(
        "pk", "partner_id"
    ):
        reps_of_partner[partner_id].append(rep_id)

    first_reached: dict[tuple[int, int], dt.date] = {}
    for kh, partner_id, rep_id, shared_on in shares:
        result[kh]["shares"] += 1
        for reached in [rep_id] if rep_id is not None else reps_of_partner[partner_id]:
            key = (kh, reached)
            if key not in first_reached or shared_on < first_reached[key]:
                first_reached[key] = shared_on

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
