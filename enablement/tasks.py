"""Celery tasks of the method. Each takes ids, enters the tenant's scope, calls one service."""

from __future__ import annotations

import datetime as dt
import smtplib

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


@shared_task(
    base=TenantTask,
    name="enablement.tasks.deal_signal_emails_send",
    queue=Queues.NOTIFY,
    autoretry_for=(OSError, smtplib.SMTPException),
    retry_backoff=True,
    max_retries=5,
)
def deal_signal_emails_send(tenant_id: int, notification_ids: list[int]) -> int:
    """Send the one-per-signal emails of these notifications (each at most once)."""
    from enablement.services.notifications import deal_signal_emails_send as send

    return send(notification_ids=notification_ids)


@shared_task(base=TenantTask, name="enablement.tasks.deal_signals_expire", queue=Queues.NOTIFY)
def deal_signals_expire(tenant_id: int) -> int:
    """The tenant's hourly upkeep (``deal_signals_sweep``): queue the checks that waited
    for the queue, and expire the open signals past their expiry."""
    from enablement.services.signals import deal_signals_sweep
    from pse_crm.tenancy import current_tenant

    return deal_signals_sweep(tenant=current_tenant())


@shared_task(base=TenantTask, name="enablement.tasks.deal_signal_digest", queue=Queues.NOTIFY)
def deal_signal_digest(tenant_id: int, until: str | None = None) -> int:
    """Queue the checks that waited for the queue, expire stale signals, then send the
    tenant's daily digests up to ``until`` (ISO)."""
    from enablement.services.notifications import deal_signal_digest_send
    from enablement.services.signals import deal_signals_sweep
    from pse_crm.tenancy import current_tenant

    tenant = current_tenant()
    cutoff = dt.datetime.fromisoformat(until) if until else None
    deal_signals_sweep(tenant=tenant)
    return deal_signal_digest_send(tenant=tenant, until=cutoff)


@shared_task(name="enablement.tasks.deal_signals_hourly", queue=Queues.NOTIFY)
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


# --- segmentation and the nightly run ----------------------------------------------------

# Tenant-local hours in which the hourly sweep queues a tenant's nightly run. 02:00 is the
# run; the later hours catch a night missed by a DST gap or an outage (the task skips a
# day that already has a succeeded nightly run, so extra hours cost one indexed query).
NIGHTLY_HOURS = range(2, 6)
# The segmentation of the demo generator's 50,000 reps takes seconds; these are ceilings.
SEGMENTATION_SOFT_TIME_LIMIT = 15 * 60
SEGMENTATION_TIME_LIMIT = 20 * 60


class SegmentationRunFailed(Exception):
    """A nightly segmentation run failed; the task is retried."""


def _moment(iso: str | None) -> dt.datetime:
    return dt.datetime.fromisoformat(iso) if iso else timezone.now()


@shared_task(name="enablement.tasks.nightly_sweep", queue=Queues.SEGMENTATION)
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
    name="enablement.tasks.tenant_nightly",
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
    from enablement.models import SegmentationRun
    from enablement.services.segmentation import segmentation_nightly, segmentation_runs_prune
    from pse_crm.tenancy import current_tenant

    tenant = current_tenant()
    moment = _moment(now)
    done: dict = {}

    run = segmentation_nightly(tenant=tenant, now=moment)
    if run is not None and run.status == SegmentationRun.Status.FAILED:
        raise self.retry(exc=SegmentationRunFailed(run.error))
    done["segmentation_run"] = run.pk if run is not None else None
    done["segmentation_runs_pruned"] = segmentation_runs_prune(tenant=tenant, now=moment)
    done.update(_workflows_nightly(moment))
    return done


@shared_task(
    base=TenantTask,
    name="enablement.tasks.segmentation_execute",
    queue=Queues.SEGMENTATION,
    soft_time_limit=SEGMENTATION_SOFT_TIME_LIMIT,
    time_limit=SEGMENTATION_TIME_LIMIT,
)
def segmentation_execute(tenant_id: int, run_id: int) -> str | None:
    """Run a segmentation requested on demand (API, command); returns its status.

    Idempotent: a run that is no longer pending is left as it is.
    """
    from enablement.models import SegmentationRun
    from enablement.services.segmentation import segmentation_run
    from pse_crm.tenancy import current_tenant

    run = SegmentationRun.objects.filter(pk=run_id).first()
    if run is None:
        return None
    return segmentation_run(tenant=current_tenant(), run=run).status


# --- quick wins and momentum -------------------------------------------------------------


def _workflows_nightly(moment: dt.datetime) -> dict:
    """The nightly steps after segmentation: quick-win outcomes (from the stored deals, so
    late syncs count), then this week's and last week's momentum (which counts them)."""
    from enablement.services.momentum import momentum_build_current
    from enablement.services.quick_wins import quick_wins_compute

    return {
        "quick_wins": quick_wins_compute(now=moment),
        "momentum_rows": momentum_build_current(now=moment),
    }


@shared_task(base=TenantTask, name="enablement.tasks.quick_wins_recompute", queue=Queues.DEFAULT)
def quick_wins_recompute(tenant_id: int) -> int:
    """On demand: recompute every started task's quick-win outcome, then this week's and
    last week's momentum. Idempotent. Returns how many tasks were computed."""
    computed = _workflows_nightly(timezone.now())
    return computed["quick_wins"]
