"""Celery tasks of the segmentation. Each takes ids, enters the tenant's scope, calls one service."""

from __future__ import annotations

from celery import shared_task

from pse_crm.celery import Queues
from pse_crm.tasks import TenantTask

# The segmentation of the demo generator's 50,000 reps takes seconds; these are ceilings.
SEGMENTATION_SOFT_TIME_LIMIT = 15 * 60


SEGMENTATION_TIME_LIMIT = 20 * 60


class SegmentationRunFailed(Exception):
    """A nightly segmentation run failed; the task is retried."""


@shared_task(
    base=TenantTask,
    name="segmentation.tasks.segmentation_execute",
    queue=Queues.SEGMENTATION,
    soft_time_limit=SEGMENTATION_SOFT_TIME_LIMIT,
    time_limit=SEGMENTATION_TIME_LIMIT,
)
def segmentation_execute(tenant_id: int, run_id: int) -> str | None:
    """Run a segmentation requested on demand (API, command); returns its status.

    Idempotent: a run that is no longer pending is left as it is.
    """
    from pse_crm.tenancy import current_tenant
    from segmentation.models import SegmentationRun
    from segmentation.services.runs import segmentation_run

    run = SegmentationRun.objects.filter(pk=run_id).first()
    if run is None:
        return None
    return segmentation_run(tenant=current_tenant(), run=run).status
