"""The quick-wins page: rates by assignee, partner, task kind and month."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from pse_crm import roles
from pse_crm.permissions import capability_required
from support.models import QuickWin, SupportTask
from support.selectors.quick_wins import quick_win_days, quick_win_rates


@capability_required(roles.READ)
def quickwins(request: HttpRequest) -> HttpResponse:
    kinds = dict(SupportTask.Kind.choices)
    groups = {}
    for group in ("assignee", "partner", "kind", "month"):
        rows = quick_win_rates(group_by=group)
        if group == "kind":
            for row in rows:
                row["label"] = kinds.get(row["label"], row["label"])
        groups[group] = rows
    totals = {
        "started": sum(r["started"] for r in groups["kind"]),
        "decided": sum(r["decided"] for r in groups["kind"]),
        "quick_wins": sum(r["quick_wins"] for r in groups["kind"]),
        "wins": sum(r["wins"] for r in groups["kind"]),
        "pending": sum(r["pending"] for r in groups["kind"]),
    }
    totals["rate"] = totals["quick_wins"] / totals["decided"] if totals["decided"] else None
    recent = list(
        QuickWin.objects.filter(outcome__in=[QuickWin.Outcome.WON, QuickWin.Outcome.OPENED])
        .select_related("task", "task__rep", "task__assignee")
        .order_by("-achieved_on", "-pk")[:10]
    )
    return render(
        request,
        "support/quickwins.html",
        {
            "groups": [
                (_("By assignee"), groups["assignee"], "assignee"),
                (_("By partner"), groups["partner"], "partner"),
                (_("By task kind"), groups["kind"], "kind"),
                (_("By month"), groups["month"], "month"),
            ],
            "totals": totals,
            "window": quick_win_days(tenant=request.tenant),
            "recent": recent,
        },
    )
