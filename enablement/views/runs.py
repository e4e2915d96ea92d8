"""Segmentation runs (history, recompute with progress), quick-win rates, and the owners'
segmentation and quick-win settings."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_tables2 import RequestConfig

from enablement.forms import SegmentationSettingsForm
from enablement.models import QuickWin, SegmentationRun, SupportTask
from enablement.selectors.quick_wins import quick_win_days, quick_win_rates
from enablement.selectors.segmentation import segmentation_runs, segmentation_settings_get
from enablement.services.recompute import segmentation_recompute_start
from enablement.services.segmentation import (
    segmentation_settings_update,
)
from enablement.tables import RunTable
from pse_crm import roles
from pse_crm.permissions import capability_required

UNFINISHED = (SegmentationRun.Status.PENDING, SegmentationRun.Status.RUNNING)
PROGRESS = {
    SegmentationRun.Status.PENDING: 10,
    SegmentationRun.Status.RUNNING: 55,
}


@capability_required(roles.READ)
def run_list(request: HttpRequest) -> HttpResponse:
    runs: QuerySet[SegmentationRun] = segmentation_runs(tenant=request.tenant).select_related(
        "requested_by"
    )
    table = RunTable(runs)
    RequestConfig(request, paginate={"per_page": 25}).configure(table)
    return render(
        request,
        "enablement/run_list.html",
        {"table": table, "active": runs.filter(status__in=UNFINISHED).first()},
    )


@require_POST
@capability_required(roles.MANAGE)
def run_recompute(request: HttpRequest) -> HttpResponse:
    running = segmentation_runs(tenant=request.tenant).filter(status__in=UNFINISHED).first()
    if running is not None:
        messages.info(request, _("A run is already in progress."))
        return redirect("run-list")
    segmentation_recompute_start(tenant=request.tenant, requested_by=request.user)
    messages.success(request, _("Recomputing the segments. This page follows the progress."))
    return redirect("run-list")


@capability_required(roles.READ)
def run_status(request: HttpRequest, pk: int) -> JsonResponse:
    run = get_object_or_404(segmentation_runs(tenant=request.tenant), pk=pk)
    finished = run.status not in UNFINISHED
    return JsonResponse(
        {
            "id": run.pk,
            "status": run.status,
            "label": run.get_status_display(),
            "percent": 100 if finished else PROGRESS.get(run.status, 10),
            "finished": finished,
        }
    )


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
        "enablement/quickwins.html",
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


# Issue 5: segmentation and quick-win settings are tuned by owners and managers (as in the API).
@capability_required(roles.MANAGE)
def settings_segmentation(request: HttpRequest) -> HttpResponse:
    instance = segmentation_settings_get(tenant=request.tenant)
    form = SegmentationSettingsForm(request.POST or None, instance=instance)
    if request.method == "POST" and form.is_valid():
        values = {name: form.cleaned_data[name] for name in form.Meta.fields}
        try:
            segmentation_settings_update(tenant=request.tenant, user=request.user, **values)
        except ValidationError as error:
            for field, errors in error.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(
                request, _("Settings saved. The next run uses them; past runs keep theirs.")
            )
            return redirect("settings-segmentation")
    return render(request, "settings/segmentation.html", {"form": form, "tab": "segmentation"})
