"""Quick-win reads: the tenant's window and quick-win rates by assignee, partner, kind, month."""

from __future__ import annotations

from typing import Literal

from django.db.models import Avg, Count, F, Q, QuerySet
from django.db.models.functions import TruncMonth

from pse_crm.models import Tenant
from segmentation.selectors import segmentation_settings_get
from support.models import QuickWin

GroupBy = Literal["assignee", "partner", "kind", "month"]

_GROUP_FIELDS: dict[str, dict] = {
    "assignee": {"key": F("task__assignee_id"), "label": F("task__assignee__email")},
    "partner": {"key": F("task__rep__partner_id"), "label": F("task__rep__partner__name")},
    "kind": {"key": F("task__kind"), "label": F("task__kind")},
    "month": {"key": TruncMonth("started_on"), "label": TruncMonth("started_on")},
}

_WON = Q(outcome=QuickWin.Outcome.WON)
_ACHIEVED = Q(outcome__in=[QuickWin.Outcome.WON, QuickWin.Outcome.OPENED])
_DECIDED = Q(outcome__in=[QuickWin.Outcome.WON, QuickWin.Outcome.OPENED, QuickWin.Outcome.MISSED])


def quick_win_days(*, tenant: Tenant) -> int:
    """The tenant's quick-win window in days (its segmentation settings, default 60)."""
    return segmentation_settings_get(tenant=tenant).quick_win_days


def quick_win_rates(*, group_by: GroupBy, queryset: QuerySet | None = None) -> list[dict]:
    """Quick-win figures per group, one query.

    Each row: ``key``, ``label``, ``started`` (tasks whose support started), ``decided``
    (a quick win, or a window that closed without one), ``quick_wins`` (won or opened),
    ``wins`` (won), ``pending``, ``rate`` (quick_wins / decided, None when nothing is
    decided yet: an open window is not a miss) and ``avg_days_to_win``.
    """
    if group_by not in _GROUP_FIELDS:
        raise ValueError(f"unknown grouping {group_by!r}")
    fields = _GROUP_FIELDS[group_by]
    qs = queryset if queryset is not None else QuickWin.objects.all()
    rows = (
        qs.annotate(key=fields["key"], label=fields["label"])
        .values("key", "label")
        .annotate(
            started=Count("pk"),
            decided=Count("pk", filter=_DECIDED),
            quick_wins=Count("pk", filter=_ACHIEVED),
            wins=Count("pk", filter=_WON),
            pending=Count("pk", filter=Q(outcome=QuickWin.Outcome.PENDING)),
            avg_days_to_win=Avg("days_to_win"),
        )
        .order_by("key")
    )
    out = []
    for row in rows:
        row["rate"] = row["quick_wins"] / row["decided"] if row["decided"] else None
        out.append(row)
    return out
