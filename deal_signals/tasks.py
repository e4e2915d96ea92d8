"""Celery tasks of deal signals. Each takes ids, enters the tenant's scope, calls one service."""

from __future__ import annotations

import datetime as dt
import smtplib

from celery import shared_task
from django.utils import timezone

from pse_crm.celery import Queues
from pse_crm.models import Tenant
from pse_crm.tasks import TenantTask

# The tenant-local hour at which the daily deal-signal digest goes out.
DEAL_SIGNAL_DIGEST_HOUR = 8


@shared_task(base=TenantTask, name="deal_signals.tasks.deal_signals_evaluate", queue=Queues.INGEST)
def deal_signals_evaluate(tenant_id: int, rep_ids: list[int]) -> int:
    """Evaluate the deal-signal rules for the reps whose views just arrived."""
    from deal_signals.services.signals import deal_signals_evaluate as evaluate
    from pse_crm.tenancy import current_tenant

    return len(evaluate(tenant=current_tenant(), rep_ids=rep_ids))


@shared_task(
    base=TenantTask,
    name="deal_signals.tasks.deal_signal_emails_send",
    queue=Queues.NOTIFY,
    autoretry_for=(OSError, smtplib.SMTPException),
    retry_backoff=True,
    max_retries=5,
)
def deal_signal_emails_send(tenant_id: int, notification_ids: list[int]) -> int:
    """Send the one-per-signal emails of these notifications (each at most once)."""
    from deal_signals.services.notifications import deal_signal_emails_send as send

    return send(notification_ids=notification_ids)


@shared_task(base=TenantTask, name="deal_signals.tasks.deal_signals_expire", queue=Queues.NOTIFY)
def deal_signals_expire(tenant_id: int) -> int:
    """The tenant's hourly upkeep (``deal_signals_sweep``): queue the checks that waited
    for the queue, and expire the open signals past their expiry."""
    from deal_signals.services.signals import deal_signals_sweep
    from pse_crm.tenancy import current_tenant

    return deal_signals_sweep(tenant=current_tenant())


@shared_task(base=TenantTask, name="deal_signals.tasks.deal_signal_digest", queue=Queues.NOTIFY)
def deal_signal_digest(tenant_id: int, until: str | None = None) -> int:
    """Queue the checks that waited for the queue, expire stale signals, then send the
    tenant's daily digests up to ``until`` (ISO)."""
    from deal_signals.services.notifications import deal_signal_digest_send
    from deal_signals.services.signals import deal_signals_sweep
    from pse_crm.tenancy import current_tenant

    tenant = current_tenant()
    cutoff = dt.datetime.fromisoformat(until) if until else None
    deal_signals_sweep(tenant=tenant)
    return deal_signal_digest_send(tenant=tenant, until=cutoff)


@shared_task(name="deal_signals.tasks.deal_signals_hourly", queue=Queues.NOTIFY)
def deal_signals_hourly() -> int:
    """Fan out, one task per active tenant: every hour, queue the deal-signal checks that
    waited for the queue (it was down when their views arrived) and expire stale signals;
    send the daily digest where the tenant's local time is the digest hour.

    Reads only the (unscoped) tenant table. Each queued task expires within the hour, so
    a backlog never sends yesterday's digest late. Returns how many digests were queued.
    """
    now = timezone.now()
    queued = 0
    for tenant in Tenant.objects.filter(is_active=True).only("pk", "timezone"):
        if now.astimezone(tenant.tzinfo).hour == DEAL_SIGNAL_DIGEST_HOUR:
            deal_signal_digest.apply_async(args=[tenant.pk, now.isoformat()], expires=55 * 60)
            queued += 1
        else:
            deal_signals_expire.apply_async(args=[tenant.pk], expires=55 * 60)
    return queued
