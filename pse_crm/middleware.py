"""Resolve the request's tenant before any view runs, and scope the request to it."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from pse_crm.models import Membership
from pse_crm.paths import UNSCOPED_PATHS
from pse_crm.services.memberships import membership_mark_used
from pse_crm.tenancy import all_tenants, tenant_scope

SESSION_KEY = "active_tenant_id"
# The tenant whose membership.last_used_at this session last recorded: a login or a
# switch (a new SESSION_KEY) records it once, not every request.
RECORDED_KEY = "active_tenant_recorded"
ADMIN_PREFIX = "/admin/"


def _last_used_first(membership: Membership) -> tuple:
    used = membership.last_used_at
    return (
        used is None,
        -used.timestamp() if used else 0,
        membership.tenant.name,
        membership.tenant_id,
    )


def active_membership(request: HttpRequest) -> Membership | None:
    """The user's membership in the session's tenant, else the one they used last (a new
    login), else their first active one by tenant name."""
    user = request.user
    if not user.is_authenticated:
        return None
    memberships = Membership.of_user.active().filter(user=user).select_related("tenant")
    wanted = request.session.get(SESSION_KEY)
    chosen = None
    if wanted is not None:
        chosen = next((m for m in memberships if m.tenant_id == wanted), None)
    if chosen is None:
        chosen = min(memberships, key=_last_used_first, default=None)
    if chosen is not None and wanted != chosen.tenant_id:
        request.session[SESSION_KEY] = chosen.tenant_id
    return chosen


class TenantMiddleware:
    """Sets ``request.tenant`` / ``request.membership`` and enters the tenant scope.

    A user with no active membership gets ``request.tenant = None``: tenant pages then
    answer 403 and no tenant-owned query can run (the scope is not entered).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info in UNSCOPED_PATHS:
            request.membership = request.tenant = None
            return self.get_response(request)
        membership = active_membership(request)
        request.membership = membership
        request.tenant = membership.tenant if membership else None
        if (
            request.user.is_authenticated
            and request.user.is_superuser
            and request.path.startswith(ADMIN_PREFIX)
        ):
            # The superuser's cross-tenant admin: the one request path without a tenant wall.
            with all_tenants():
                return self.get_response(request)
        if request.tenant is None:
            return self.get_response(request)
        with tenant_scope(request.tenant):
            if request.session.get(RECORDED_KEY) != request.tenant.pk:
                membership_mark_used(membership=membership)
                request.session[RECORDED_KEY] = request.tenant.pk
            return self.get_response(request)
