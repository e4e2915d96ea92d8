"""Celery tasks of sales support. Each takes ids, enters the tenant's scope, calls one service."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from pse_crm.celery import Queues
from pse_crm.tasks import TenantTask


@shared_task(base=TenantTask, name="support.tasks.quick_wins_recompute", queue=Queues.DEFAULT)
def quick_wins_recompute(tenant_id: int) -> int:
    """On demand: recompute every started task's quick-win outcome (then momentum, which
    listens to ``quick_wins_recomputed``, rebuilds this week's and last week's snapshots).
    Idempotent. Returns how many tasks were computed."""
    from pse_crm.tenancy import current_tenant
    from support.models import QuickWin
    from support.services.quick_wins import quick_wins_compute
    from support.signals import quick_wins_recomputed

    tenant = current_tenant()
    now = timezone.now()
    computed = quick_wins_compute(tenant=tenant, now=now)
    quick_wins_recomputed.send(sender=QuickWin, tenant=tenant, now=now)
    return computed
