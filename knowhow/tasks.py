"""Celery tasks of know-how. Each takes ids, enters the tenant's scope, calls one service."""

from __future__ import annotations

import datetime as dt

from celery import shared_task

from pse_crm.celery import Queues
from pse_crm.tasks import TenantTask
from segmentation.tasks import SEGMENTATION_SOFT_TIME_LIMIT, SEGMENTATION_TIME_LIMIT


# About a minute for a 50,000-rep tenant (docs/share-of-wallet.md); the ceilings are the
# segmentation's.
@shared_task(
    base=TenantTask,
    name="knowhow.tasks.know_how_effects_compute",
    queue=Queues.SEGMENTATION,
    soft_time_limit=SEGMENTATION_SOFT_TIME_LIMIT,
    time_limit=SEGMENTATION_TIME_LIMIT,
)
def know_how_effects_compute(tenant_id: int, now: str | None = None) -> int:
    """Nightly, after the segmentation (``momentum.tasks.tenant_nightly`` queues it by name):
    measure the effect of the tenant's know-how as of ``now`` (ISO; default: now).
    Idempotent. Returns how many rows were written."""
    from knowhow.services import know_how_effects_compute as compute
    from pse_crm.tenancy import current_tenant

    moment = dt.datetime.fromisoformat(now) if now else None
    return compute(tenant=current_tenant(), now=moment)
