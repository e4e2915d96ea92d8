"""Start a segmentation recompute on demand (the runs page and the API)."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django.utils.translation import gettext as _

from pse_crm.models import Tenant, User
from pse_crm.tasks import QueueUnavailable, send_task
from segmentation.models import SegmentationRun
from segmentation.services.runs import segmentation_run_request


class SegmentationRunInProgress(Exception):
    """A run of this tenant is pending or running: a recompute now would only be skipped."""

    def __init__(self, run: SegmentationRun) -> None:
        super().__init__(_("A run is already in progress."))
        self.run = run


def segmentation_recompute_start(
    *, tenant: Tenant, as_of: dt.datetime | None = None, requested_by: User | None = None
) -> SegmentationRun:
    """Record a pending run and hand it to the Celery worker.

    Guarantees: while another run of the tenant is pending or running, nothing is
    recorded and ``SegmentationRunInProgress`` is raised (the page and the API answer the
    same). When the task queue cannot be reached, the run just recorded is marked
    failed (with a reason a person can read) before ``QueueUnavailable`` is raised, so no
    pending run is left behind to block the next recompute. Call it outside a transaction
    (views and the API do): the run row is then committed before the task is sent.
    """
    running = SegmentationRun.objects.filter(
        tenant=tenant,
        status__in=(SegmentationRun.Status.PENDING, SegmentationRun.Status.RUNNING),
    ).first()
    if running is not None:
        raise SegmentationRunInProgress(running)
    run = segmentation_run_request(
        tenant=tenant,
        as_of=as_of,
        trigger=SegmentationRun.Trigger.MANUAL,
        requested_by=requested_by,
    )
    try:
        send_task("segmentation.tasks.segmentation_execute", tenant.pk, run.pk)
    except QueueUnavailable:
        SegmentationRun.objects.filter(pk=run.pk, status=SegmentationRun.Status.PENDING).update(
            status=SegmentationRun.Status.FAILED,
            finished_at=timezone.now(),
            error=_("The task queue was unreachable; nothing was computed. Try again."),
        )
        raise
    return run
