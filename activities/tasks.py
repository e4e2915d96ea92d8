"""Celery tasks of the activities app: the Salesforce connector's pulls and reconciliation,
and the folding of new views into their roll-ups.

Beat sends the fan-outs (pse_crm/settings/base.py); each queues one task per connected
tenant on the ``salesforce`` queue, and that task enters the tenant's scope (``TenantTask``)
and calls one service.
"""

from __future__ import annotations

import zoneinfo

from celery import shared_task
from django.db import connection
from django.utils import timezone

from activities.models import SalesforceConnection
from activities.services import rollups
from activities.services import salesforce as services
from activities.services.salesforce import SalesforceNotConnected, SalesforcePullInProgress
from pse_crm.celery import Queues
from pse_crm.models import Tenant
from pse_crm.tasks import TenantTask
from pse_crm.tenancy import all_tenants, current_tenant

# A pull of 100,000 opportunities takes about a minute (bench/salesforce_pull.py).
SALESFORCE_SOFT_TIME_LIMIT = 50 * 60
SALESFORCE_TIME_LIMIT = 55 * 60
# The tenant-local hour of the nightly reconciliation.
RECONCILE_HOUR = 3


def _connected() -> list[tuple[int, str]]:
    """(tenant id, time zone) of every active tenant with a connection: one query over all
    tenants (a cross-tenant maintenance read), nothing else."""
    with all_tenants():
        return list(
            SalesforceConnection.objects.filter(tenant__is_active=True)
            .order_by("tenant_id")
            .values_list("tenant_id", "tenant__timezone")
        )


@shared_task(name="activities.tasks.salesforce_pull_all", queue=Queues.SALESFORCE)
def salesforce_pull_all() -> int:
    """Fan out, every 15 minutes: one ``salesforce_pull`` per connected tenant. Each
    expires before the next round, so a backlog never piles up pulls. Returns how many."""
    tenants = _connected()
    for tenant_id, _tz in tenants:
        salesforce_pull.apply_async(
            args=[tenant_id],
            kwargs={"trigger": "schedule"},
            queue=Queues.SALESFORCE,
            expires=14 * 60,
        )
    return len(tenants)


@shared_task(name="activities.tasks.salesforce_reconcile_all", queue=Queues.SALESFORCE)
def salesforce_reconcile_all() -> int:
    """Fan out, hourly: a ``salesforce_reconcile`` for each connected tenant whose local
    time is ``RECONCILE_HOUR``. Returns how many were queued."""
    now = timezone.now()
    queued = 0
    for tenant_id, tz in _connected():
        if now.astimezone(zoneinfo.ZoneInfo(tz)).hour != RECONCILE_HOUR:
            continue
        salesforce_reconcile.apply_async(
            args=[tenant_id],
            kwargs={"trigger": "nightly"},
            queue=Queues.SALESFORCE,
            expires=50 * 60,
        )
        queued += 1
    return queued


def _outcome(run) -> dict:
    return {"run": run.pk, "status": run.status, "records": run.records, "error": run.error}


@shared_task(
    base=TenantTask,
    name="activities.tasks.salesforce_pull",
    queue=Queues.SALESFORCE,
    soft_time_limit=SALESFORCE_SOFT_TIME_LIMIT,
    time_limit=SALESFORCE_TIME_LIMIT,
)
def salesforce_pull(tenant_id: int, full: bool = False, trigger: str = "schedule") -> dict:
    """Pull the tenant's org (``salesforce_pull``). Idempotent: a replay pulls from the
    watermark again; a pull already running makes this one stop at once."""
    try:
        return _outcome(
            services.salesforce_pull(tenant=current_tenant(), full=full, trigger=trigger)
        )
    except (SalesforceNotConnected, SalesforcePullInProgress) as exc:
        return {"run": None, "status": "skipped", "records": 0, "error": str(exc)}


@shared_task(
    base=TenantTask,
    name="activities.tasks.salesforce_reconcile",
    queue=Queues.SALESFORCE,
    soft_time_limit=SALESFORCE_SOFT_TIME_LIMIT,
    time_limit=SALESFORCE_TIME_LIMIT,
)
def salesforce_reconcile(tenant_id: int, trigger: str = "nightly") -> dict:
    """Reconcile the tenant's deals with its org (``salesforce_reconcile``)."""
    try:
        return _outcome(services.salesforce_reconcile(tenant=current_tenant(), trigger=trigger))
    except (SalesforceNotConnected, SalesforcePullInProgress) as exc:
        return {"run": None, "status": "skipped", "records": 0, "error": str(exc)}


# Every 5 minutes (pse_crm/settings/base.py): the roll-ups only speed the segmentation run
# up, which reads the views above the mark itself, so they need not be fresher.
FOLD_EXPIRES = 4 * 60


@shared_task(name="activities.tasks.view_rollups_fold_all", queue=Queues.SEGMENTATION)
def view_rollups_fold_all() -> int:
    """Fan out: one ``view_rollups_fold`` per active tenant (PostgreSQL: SQLite keeps no
    roll-ups). Returns how many were queued."""
    if connection.vendor != "postgresql":
        return 0
    with all_tenants():
        tenant_ids = list(
            Tenant.objects.filter(is_active=True).order_by("pk").values_list("pk", flat=True)
        )
    for tenant_id in tenant_ids:
        view_rollups_fold.apply_async(
            args=[tenant_id], queue=Queues.SEGMENTATION, expires=FOLD_EXPIRES
        )
    return len(tenant_ids)


@shared_task(base=TenantTask, name="activities.tasks.view_rollups_fold", queue=Queues.SEGMENTATION)
def view_rollups_fold(tenant_id: int) -> int:
    """Fold the tenant's views stored since its mark into its roll-ups: how many."""
    return rollups.view_rollups_fold(tenant=current_tenant())
