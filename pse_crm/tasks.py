"""The Celery task base that enters a tenant's scope.

A tenant task takes ``tenant_id`` as its first argument, enters that tenant's scope, and
calls one service. Enqueue it with ``enqueue_on_commit`` so a worker never sees an id
whose row is not committed yet.
"""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task
from django.db import transaction

from pse_crm.models import Tenant
from pse_crm.tenancy import tenant_scope


class TenantTask(Task):
    """Base class: ``@shared_task(base=TenantTask)`` and a first argument ``tenant_id``."""

    abstract = True

    def __call__(self, tenant_id: int, *args: Any, **kwargs: Any) -> Any:
        tenant = Tenant.objects.get(pk=tenant_id, is_active=True)
        with tenant_scope(tenant):
            return super().__call__(tenant_id, *args, **kwargs)


def enqueue_on_commit(task: Task, *args: Any, **kwargs: Any) -> None:
    """Send ``task`` once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: task.apply_async(args=args, kwargs=kwargs))


@shared_task(base=TenantTask, name="pse_crm.tasks.worker_check")
def worker_check(tenant_id: int) -> dict[str, Any]:
    """Diagnostics (``manage.py check_worker``): the worker's tenant scope and what it sees."""
    from pse_crm.models import Membership
    from pse_crm.tenancy import current_tenant

    tenant = current_tenant()
    return {"tenant": tenant.slug, "members": Membership.objects.count()}
