"""Resolve the request's tenant before any view runs, and scope the request to it."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from pse_crm.models import Membership
from pse_crm.tenancy import all_tenants, tenant_scope

SESSION_KEY = "active_tenant_id"
ADMIN_PREFIX = "/admin/"


def active_membership(request: HttpRequest) -> Membership | None:
    """The user's membership in the session's tenant, else their first active one."""
    user = request.user
    if not user.is_authenticated:
        return None
    memberships = Membership.of_user.active().filter(user=user).select_related("tenant")
    wanted = request.session.get(SESSION_KEY)
    chosen = None
    if wanted is not None:
        chosen = next((m for m in memberships if m.tenant_id == wanted), None)
    if chosen is None:
        chosen = min(memberships, key=lambda m: (m.tenant.name, m.tenant_id), default=None)
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
            return self.get_response(request)
