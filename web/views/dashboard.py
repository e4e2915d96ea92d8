"""The dashboard: the tenant's state of the method on one page."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from activities.selectors import deals_unconverted
from momentum.selectors import momentum_indicators, momentum_snapshots
from pse_crm import roles
from pse_crm.permissions import capability_required
from segmentation.cutoffs import cutoff_lines
from segmentation.models import Quadrant
from segmentation.selectors import segmentation_current_run
from support.models import SupportTask
from support.selectors.quick_wins import quick_win_rates
from web import selectors as pages
from web.share_of_wallet import share_movers

# Partners without a keyman ① shown on the dashboard (the largest first).
PLAYBOOK_PARTNERS = 5


def _quick_win_rate() -> tuple[float | None, int]:
    rows = quick_win_rates(group_by="kind")
    decided = sum(row["decided"] for row in rows)
    wins = sum(row["quick_wins"] for row in rows)
    return (wins / decided if decided else None), decided


@capability_required(roles.READ)
def dashboard(request: HttpRequest) -> HttpResponse:
    tenant = request.tenant
    run = segmentation_current_run(tenant=tenant)
    counts = (run.quadrant_counts if run else {}) or {}
    quadrants = {
        key: {"key": key, "label": label, "count": counts.get(key, 0)}
        for key, label in Quadrant.choices
    }
    has_momentum = momentum_snapshots(tenant=tenant, whole_tenant=True).exists()
    qw_rate, qw_decided = _quick_win_rate()
    context = {
        "run": run,
        "reps": run.rep_count if run else 0,
        "active_reps": run.active_rep_count if run else 0,
        "activation_rate": (run.active_rep_count / run.rep_count)
        if run and run.rep_count
        else None,
        "keyman1": counts.get(Quadrant.PERFORMER, 0),
        "keyman2": counts.get(Quadrant.MOTIVATED, 0),
        "quadrants": quadrants,
        "open_tasks": SupportTask.objects.filter(status__in=SupportTask.OPEN_STATUSES).count(),
        "quick_win_rate": qw_rate,
        "quick_win_decided": qw_decided,
        # The tenant's own label: its 8 weekly rows, not every partner's.
        "momentum": momentum_indicators(tenant=tenant, partner_ids=[None]).get(None)
        if has_momentum
        else None,
        "has_momentum": has_momentum,
        "tier_bars": pages.tier_bars(tenant=tenant),
        "cutoffs": cutoff_lines(run),
        "playbook": pages.first_performer_playbook(tenant=tenant, limit=PLAYBOOK_PARTNERS),
        "wallet_movers": share_movers(tenant=tenant),
        "unconverted": deals_unconverted(tenant=tenant),
    }
    return render(request, "web/dashboard.html", context)
