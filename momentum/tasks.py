"""The nightly pipeline's Celery tasks: a fan-out per tenant, then one task per tenant."""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.utils import timezone

from pse_crm.celery import Queues
from pse_crm.models import Tenant
from pse_crm.tasks import TenantTask, task_named
from segmentation.tasks import (
    SEGMENTATION_SOFT_TIME_LIMIT,
    SEGMENTATION_TIME_LIMIT,
    SegmentationRunFailed,
)

# Tenant-local hours in which the hourly sweep queues a tenant's nightly run. 02:00 is the
# run; the later hours catch a night missed by a DST gap or an outage (the task skips a
# day that already has a succeeded nightly run, so extra hours cost one indexed query).
NIGHTLY_HOURS = range(2, 6)


def _moment(iso: str | None) -> dt.datetime:
    return dt.datetime.fromisoformat(iso) if iso else timezone.now()


@shared_task(name="momentum.tasks.nightly_sweep", queue=Queues.SEGMENTATION)
def nightly_sweep(now: str | None = None) -> int:
    """Fan out: one ``tenant_nightly`` per active tenant whose local night it is.

    Reads only the (unscoped) tenant table. ``now`` (ISO) is passed on, so a retried
    task still computes the same as-of day. Returns how many tenants were queued.
    """
    moment = _moment(now)
    queued = 0
    for tenant in Tenant.objects.filter(is_active=True).only("pk", "timezone"):
        if moment.astimezone(tenant.tzinfo).hour not in NIGHTLY_HOURS:
            continue
        tenant_nightly.apply_async(
            args=[tenant.pk, moment.isoformat()], queue=Queues.SEGMENTATION, expires=6 * 3600
        )
        queued += 1
    return queued


@shared_task(
    base=TenantTask,
    bind=True,
    name="momentum.tasks.tenant_nightly",
    queue=Queues.SEGMENTATION,
    max_retries=3,
    default_retry_delay=10 * 60,
    soft_time_limit=SEGMENTATION_SOFT_TIME_LIMIT,
    time_limit=SEGMENTATION_TIME_LIMIT,
)
def tenant_nightly(self, tenant_id: int, now: str | None = None) -> dict:
    """The tenant's nightly work, one service per step, in order.

    Idempotent per tenant-local day: a day with a succeeded nightly segmentation run is
    not recomputed. A failed segmentation is retried (up to ``max_retries``).
    """
    from pse_crm.tenancy import current_tenant
    from segmentation.models import SegmentationRun
    from segmentation.services.runs import segmentation_nightly, segmentation_runs_prune

    tenant = current_tenant()
    moment = _moment(now)
    done: dict = {}

    run = segmentation_nightly(tenant=tenant, now=moment)
    if run is not None and run.status == SegmentationRun.Status.FAILED:
        raise self.retry(exc=SegmentationRunFailed(run.error))
    done["segmentation_run"] = run.pk if run is not None else None
    done["segmentation_runs_pruned"] = segmentation_runs_prune(tenant=tenant, now=moment)
    done.update(_workflows_nightly(tenant, moment))
    if run is not None:
        # Once a night, after the day's segmentation, which they read: by name (knowhow).
        task_named("knowhow.tasks.know_how_effects_compute").apply_async(
            args=[tenant.pk, moment.isoformat()], expires=6 * 3600
        )
    return done


def _workflows_nightly(tenant: Tenant, moment: dt.datetime) -> dict:
    """The nightly steps after segmentation: quick-win outcomes (from the stored deals, so
    late syncs count), then this week's and last week's momentum (which counts them)."""
    from momentum.services import momentum_build_current
    from support.services.quick_wins import quick_wins_compute

    return {
        "quick_wins": quick_wins_compute(tenant=tenant, now=moment),
        "momentum_rows": momentum_build_current(tenant=tenant, now=moment),
    }
