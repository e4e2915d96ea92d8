"""The tenant scope: the one place that decides which tenant's rows a query may see.

The tenant is entered in exactly three places: the request middleware / the API base
class (from the session's membership or the API key), the Celery task base class, and
``with tenant_scope(t):`` in management commands. Every tenant-owned model's default
manager (``TenantOwned.objects``) fails closed: with no tenant in scope it raises
``ScopeError`` instead of returning every tenant's rows.

``all_tenants()`` is the loud escape hatch for superuser admin, migrations and
cross-tenant maintenance; tests/pse_crm/test_tenancy_guard.py lists where it may appear.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

from django_scopes import ScopeError, scope, scopes_disabled

if TYPE_CHECKING:
    from pse_crm.models import Tenant

__all__ = [
    "ScopeError",
    "TenantScopeError",
    "all_tenants",
    "current_tenant",
    "require_scope",
    "tenant_scope",
]

_current: ContextVar[Tenant | None] = ContextVar("pse_crm_current_tenant", default=None)


class TenantScopeError(ScopeError):
    """Raised when tenant-owned data is touched without a tenant in scope."""


@contextmanager
def tenant_scope(tenant: Tenant) -> Iterator[Tenant]:
    """Scope every tenant-owned query inside the block to ``tenant``.

    Refuses ``None`` or an unsaved tenant: django-scopes reads a ``None`` scope value
    as "no filter", which would open every tenant.
    """
    if tenant is None or getattr(tenant, "pk", None) is None:
        raise TenantScopeError(f"tenant_scope() needs a saved Tenant, got {tenant!r}")
    token = _current.set(tenant)
    try:
        with scope(tenant=tenant.pk):
            yield tenant
    finally:
        _current.reset(token)


def current_tenant() -> Tenant:
    """The tenant in scope; raises ``TenantScopeError`` when there is none."""
    tenant = _current.get()
    if tenant is None:
        raise TenantScopeError("No tenant is in scope.")
    return tenant


def current_tenant_or_none() -> Tenant | None:
    return _current.get()


def require_scope(tenant: Tenant) -> Tenant:
    """Check that ``tenant`` is the tenant in scope, and return it.

    A service or selector that takes ``tenant=`` calls it first. Its queries read through
    the scope while it writes and computes with ``tenant``: given another tenant than the
    scope's, it would mix the two, so this raises ``TenantScopeError`` instead (and also
    when no tenant is in scope, e.g. inside ``all_tenants()``).
    """
    scoped = _current.get()
    if scoped is None:
        raise TenantScopeError(f"{tenant!r} is not in scope: no tenant is.")
    if getattr(tenant, "pk", None) != scoped.pk:
        raise TenantScopeError(f"{tenant!r} is not the tenant in scope ({scoped!r}).")
    return tenant


@contextmanager
def all_tenants() -> Iterator[None]:
    """Disable tenant scoping. Superuser admin, migrations and maintenance tasks only."""
    token = _current.set(None)
    try:
        with scopes_disabled():
            yield
    finally:
        _current.reset(token)
