"""The rep page: who the rep is, how their views and results move, what we did with them."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from knowhow.models import Hearing
from pse_crm import roles
from pse_crm.permissions import capability_required, request_role
from reps.models import Rep
from support.models import SupportTask
from web import selectors as pages


@capability_required(roles.READ)
def rep_detail(request: HttpRequest, pk: int) -> HttpResponse:
    rep = get_object_or_404(Rep.objects.select_related("partner", "tenant"), pk=pk)
    hearings = Hearing.objects.filter(rep=rep).select_related("held_by")[:20]
    tasks = (
        SupportTask.objects.filter(rep=rep)
        .select_related("assignee")
        .order_by("-created_at", "-pk")[:20]
    )
    context = {
        "rep": rep,
        "history": pages.rep_segment_history_rows(rep=rep),
        "materials": pages.rep_materials_viewed(rep=rep),
        "deals": list(pages.rep_deals(rep=rep)),
        "deal_summary": pages.rep_deal_summary(rep=rep),
        "hearings": list(hearings),
        "tasks": list(tasks),
        "can_write": roles.role_allows(request_role(request), roles.WRITE_ENABLEMENT),
        "can_manage": roles.role_allows(request_role(request), roles.MANAGE),
    }
    return render(request, "web/rep_detail.html", context)
