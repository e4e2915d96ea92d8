"""The Celery task base that enters a tenant's scope.

A tenant task takes ``tenant_id`` as its first argument, enters that tenant's scope, and
calls one service. Enqueue it with ``enqueue_on_commit`` so a worker never sees an id
whose row is not committed yet.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from celery import Task, shared_task
from django.db import transaction
from kombu.exceptions import OperationalError as BrokerUnavailable

from pse_crm import health
from pse_crm.celery import Queues
from pse_crm.models import Tenant
from pse_crm.tenancy import tenant_scope

log = logging.getLogger(__name__)


class TenantTask(Task):
    """Base class: ``@shared_task(base=TenantTask)`` and a first argument ``tenant_id``."""

    abstract = True

    def __call__(self, tenant_id: int, *args: Any, **kwargs: Any) -> Any:
        tenant = Tenant.objects.get(pk=tenant_id, is_active=True)
        with tenant_scope(tenant):
            return super().__call__(tenant_id, *args, **kwargs)


class QueueUnavailable(Exception):
    """The task queue (Redis) cannot be reached: the request should be tried again.

    pse_crm.resilience.QueueUnavailableMiddleware answers it with a clear "try again"
    (503 for the API, a message on the page) instead of a 500.
    """


# Work that follows a write (deal signals after an ingestion, notifications) must not fail
# the write when the queue is down: ``send_task`` returns None (the caller may keep the work
# for later, as the deal-signal backlog does); everything else raises.
BEST_EFFORT_QUEUES = frozenset({Queues.INGEST, Queues.NOTIFY})


def task_named(name: str) -> Task:
    """The registered task called ``name``: services enqueue their app's tasks by name, so
    a service never imports a tasks module (tasks call services, never the reverse)."""
    from pse_crm.celery import app

    if name not in app.tasks:
        # Autodiscovery imports tasks modules lazily; import the named one for sure.
        importlib.import_module(name.rpartition(".")[0])
    return app.tasks[name]


def send_task(task: Task | str, *args: Any, **kwargs: Any) -> Any:
    """``task.apply_async`` that turns an unreachable broker into ``QueueUnavailable``.

    ``task`` is a task or its registered name. Returns the task's result handle; ``None``
    only when a best-effort task was dropped.
    """
    if isinstance(task, str):
        task = task_named(task)
    try:
        return task.apply_async(args=args, kwargs=kwargs)
    except BrokerUnavailable as exc:
        if getattr(task, "queue", None) in BEST_EFFORT_QUEUES:
            log.error("task queue unavailable: %s not queued (%s)", task.name, exc)
            return None
        raise QueueUnavailable(str(exc)) from exc


def enqueue_on_commit(task: Task | str, *args: Any, **kwargs: Any) -> None:
    """Send ``task`` once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: send_task(task, *args, **kwargs))


@shared_task(base=TenantTask, name="pse_crm.tasks.worker_check")
def worker_check(tenant_id: int) -> dict[str, Any]:
    """Diagnostics (``manage.py check_worker``): the worker's tenant scope and what it sees."""
    from pse_crm.models import Membership
    from pse_crm.tenancy import current_tenant

    tenant = current_tenant()
    return {"tenant": tenant.slug, "members": Membership.objects.count()}


@shared_task(name="pse_crm.tasks.worker_heartbeat", ignore_result=True)
def worker_heartbeat() -> None:
    """Beat sends it every minute; the worker that runs it stamps the time in Redis.
    ``/readyz`` reports the worker failed when the stamp is stale (pse_crm/health.py)."""
    health.worker_heartbeat_record(worker=worker_heartbeat.request.hostname or "")
