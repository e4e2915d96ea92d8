"""Celery tasks of the method. Each takes ids, enters the tenant's scope, calls one service."""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.utils import timezone

from pse_crm.celery import Queues
from pse_crm.models import Tenant
from pse_crm.tasks import TenantTask

# --- deal signals ----------------------------------------------------------------------

# The tenant-local hour at which the daily deal-signal digest goes out.
DEAL_SIGNAL_DIGEST_HOUR = 8


@shared_task(base=TenantTask, name="enablement.tasks.deal_signals_evaluate", queue=Queues.INGEST)
def deal_signals_evaluate(tenant_id: int, rep_ids: list[int]) -> int:
    """Evaluate the deal-signal rules for the reps whose views just arrived."""
    from enablement.services.signals import deal_signals_evaluate as evaluate
    from pse_crm.tenancy import current_tenant

    return len(evaluate(tenant=current_tenant(), rep_ids=rep_ids))


@shared_task(base=TenantTask, name="enablement.tasks.deal_signal_emails_send", queue=Queues.NOTIFY)
def deal_signal_emails_send(tenant_id: int, notification_ids: list[int]) -> int:
    """Send the one-per-signal emails of these notifications (each at most once)."""
    from enablement.services.notifications import deal_signal_emails_send as send

    return send(notification_ids=notification_ids)


@shared_task(base=TenantTask, name="enablement.tasks.deal_signal_digest", queue=Queues.NOTIFY)
def deal_signal_digest(tenant_id: int, until: str | None = None) -> int:
    """Expire stale signals, then send the tenant's daily digests up to ``until`` (ISO)."""
    from enablement.services.notifications import deal_signal_digest_send
    from enablement.services.signals import deal_signals_expire
    from pse_crm.tenancy import current_tenant

    tenant = current_tenant()
    cutoff = dt.datetime.fromisoformat(until) if until else None
    deal_signals_expire(tenant=tenant)
    return deal_signal_digest_send(tenant=tenant, until=cutoff)


@shared_task(name="enablement.tasks.deal_signals_hourly", queue=Queues.NOTIFY)
def deal_signals_hourly() -> int:
    """Fan out: the digest task for each active tenant whose local time is the digest hour.

    Reads only the (unscoped) tenant table. Each queued task expires within the hour, so
    a backlog never sends yesterday's digest late. Returns how many tenants were queued.
    """
    now = timezone.now()
    queued = 0
    for tenant in Tenant.objects.filter(is_active=True).only("pk", "timezone"):
        if now.astimezone(tenant.tzinfo).hour != DEAL_SIGNAL_DIGEST_HOUR:
            continue
        deal_signal_digest.apply_async(args=[tenant.pk, now.isoformat()], expires=55 * 60)
        queued += 1
    return queued
