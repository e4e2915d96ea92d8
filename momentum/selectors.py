"""Momentum reads: weekly snapshots and a plain momentum label per partner.

The label, from the last 8 complete weekly snapshots (the current, partial week is left
out so a Monday never reads as a stall), split into the earlier and the later half (4 and
4 weeks):

    A = (mean active reps, later half − mean active reps, earlier half)
        / max(mean active reps, earlier half, 1)
    W = (won deals, later half − won deals, earlier half) / max(won deals, earlier half, 1)
    score = (clip(A, −1, 1) + clip(W, −1, 1)) / 2

*accelerating* when score ≥ 0.10, *stalling* when score ≤ −0.10, *steady* otherwise (and
with fewer than 2 weeks of snapshots). A trend of counts, not a forecast.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from momentum.models import MomentumSnapshot
from pse_crm.calendar import tenant_today, week_start
from pse_crm.models import Tenant
from pse_crm.tenancy import require_scope

WINDOW_WEEKS = 8
THRESHOLD = 0.10
LABELS = {
    "accelerating": _("accelerating"),
    "steady": _("steady"),
    "stalling": _("stalling"),
}


@dataclass(frozen=True)
class Momentum:
    label: str  # accelerating | steady | stalling
    score: float
    active_trend: float
    win_trend: float
    weeks: int

    @property
    def label_display(self) -> str:
        return str(LABELS[self.label])


def _clip(value: float) -> float:
    return max(-1.0, min(1.0, value))


def momentum_score(*, active_reps: list[int], won_deals: list[int]) -> Momentum:
    """The label for one partner's weekly series (oldest first); see the module docstring."""
    n = len(active_reps)
    if n < 2:
        return Momentum("steady", 0.0, 0.0, 0.0, n)
    # With an odd count of weeks the middle week belongs to neither half.
    half = n // 2
    early_a, late_a = active_reps[:half], active_reps[n - half :]
    early_w, late_w = won_deals[:half], won_deals[n - half :]
    mean_early = sum(early_a) / len(early_a)
    mean_late = sum(late_a) / len(late_a)
    a = _clip((mean_late - mean_early) / max(mean_early, 1))
    w = _clip((sum(late_w) - sum(early_w)) / max(sum(early_w), 1))
    score = (a + w) / 2
    if score >= THRESHOLD:
        label = "accelerating"
    elif score <= -THRESHOLD:
        label = "stalling"
    else:
        label = "steady"
    return Momentum(label, round(score, 4), round(a, 4), round(w, 4), n)


def momentum_snapshots(
    *,
    tenant: Tenant,
    partner_id: int | None = None,
    weeks: int = 26,
    whole_tenant: bool = False,
) -> QuerySet[MomentumSnapshot]:
    """The last ``weeks`` weekly snapshots, oldest first: of one partner, of every partner,
    or (``whole_tenant``) the tenant's own rows."""
    require_scope(tenant)
    since = week_start(tenant_today(tenant)) - dt.timedelta(weeks=weeks - 1)
    qs = MomentumSnapshot.objects.filter(week_start__gte=since).select_related("partner")
    if whole_tenant:
        qs = qs.filter(partner__isnull=True)
    elif partner_id is not None:
        qs = qs.filter(partner_id=partner_id)
    else:
        qs = qs.filter(partner__isnull=False)
    return qs.order_by("week_start", "partner_id")


def momentum_indicators(
    *,
    tenant: Tenant,
    until: dt.date | None = None,
    partner_ids: Collection[int | None] | None = None,
) -> dict[int | None, Momentum]:
    """The momentum label of every partner (and of the tenant, key ``None``) from the 8
    weekly snapshots up to ``until``'s week (default: last week, the latest complete one).
    ``partner_ids`` narrows it to those partners (``None`` in it: the tenant's own label),
    so a page reads the series it shows, not 300 partners' (each label depends on its own
    series only). One query."""
    require_scope(tenant)
    if until is None:
        until = tenant_today(tenant) - dt.timedelta(days=7)
    last = week_start(until)
    first = last - dt.timedelta(weeks=WINDOW_WEEKS - 1)
    series: dict[int | None, list[tuple[int, int]]] = defaultdict(list)
    rows = MomentumSnapshot.objects.filter(week_start__gte=first, week_start__lte=last)
    if partner_ids is not None:
        ids = {pk for pk in partner_ids if pk is not None}
        wanted = Q(partner_id__in=ids)
        if None in partner_ids:
            wanted |= Q(partner__isnull=True)
        rows = rows.filter(wanted)
    rows = rows.order_by("partner_id", "week_start").values_list(
        "partner_id", "active_reps", "won_deals"
    )
    for partner_id, active, won in rows:
        series[partner_id].append((active, won))
    return {
        partner_id: momentum_score(
            active_reps=[a for a, _ in points], won_deals=[w for _, w in points]
        )
        for partner_id, points in series.items()
    }
