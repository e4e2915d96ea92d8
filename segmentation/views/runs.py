"""Pages of the segmentation runs: history, "Recompute now" and its progress, and the
segmentation and quick-win settings."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_tables2 import RequestConfig

from pse_crm import roles
from pse_crm.permissions import capability_required
from segmentation.forms import SegmentationSettingsForm
from segmentation.models import SegmentationRun
from segmentation.selectors import segmentation_runs, segmentation_settings_get
from segmentation.services.recompute import (
    SegmentationRunInProgress,
    segmentation_recompute_start,
)
from segmentation.services.settings import segmentation_settings_update
from segmentation.tables import RunTable

UNFINISHED = (SegmentationRun.Status.PENDING, SegmentationRun.Status.RUNNING)


def run_progress(run: SegmentationRun, *, now: dt.datetime) -> dict:
    """What the runs page says about ``run``: its status and how long it has waited for a
    worker or been running, in whole seconds of the server's clock.

    No percentage: the run is a few SQL statements, and nothing measures how far along
    one is; the elapsed time is what is known.
    """
    finished = run.status not in UNFINISHED
    since = run.started_at if run.status == SegmentationRun.Status.RUNNING else run.created_at
    seconds = None if finished or since is None else max(0, int((now - since).total_seconds()))
    if seconds is None:
        text = run.get_status_display()
    elif run.status == SegmentationRun.Status.RUNNING:
        text = _("Running for %(seconds)s s") % {"seconds": seconds}
    else:
        text = _("Queued %(seconds)s s ago, waiting for a worker") % {"seconds": seconds}
    return {
        "id": run.pk,
        "status": run.status,
        "label": run.get_status_display(),
        "finished": finished,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "elapsed_seconds": seconds,
        "text": text,
    }


@capability_required(roles.READ)
def run_list(request: HttpRequest) -> HttpResponse:
    runs: QuerySet[SegmentationRun] = segmentation_runs(tenant=request.tenant).select_related(
        "requested_by"
    )
    table = RunTable(runs)
    RequestConfig(request, paginate={"per_page": 25}).configure(table)
    active = runs.filter(status__in=UNFINISHED).first()
    progress = run_progress(active, now=timezone.now()) if active else None
    return render(
        request,
        "segmentation/run_list.html",
        {"table": table, "active": active, "progress": progress},
    )


@require_POST
@capability_required(roles.MANAGE)
def run_recompute(request: HttpRequest) -> HttpResponse:
    try:
        segmentation_recompute_start(tenant=request.tenant, requested_by=request.user)
    except SegmentationRunInProgress as exc:
        messages.info(request, str(exc))
        return redirect("run-list")
    messages.success(request, _("Recomputing the segments. This page follows the progress."))
    return redirect("run-list")


@capability_required(roles.READ)
def run_status(request: HttpRequest, pk: int) -> JsonResponse:
    run = get_object_or_404(segmentation_runs(tenant=request.tenant), pk=pk)
    return JsonResponse(run_progress(run, now=timezone.now()))


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
    return render(request, "segmentation/settings.html", {"form": form, "tab": "segmentation"})
