"""Core pages: dashboard shell, tenant switcher, health."""

from __future__ import annotations

from django.contrib import messages
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from pse_crm import roles
from pse_crm.middleware import SESSION_KEY
from pse_crm.models import Membership
from pse_crm.permissions import capability_required


@capability_required(roles.READ)
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "pse_crm/dashboard.html")


@require_POST
def switch_tenant(request: HttpRequest) -> HttpResponse:
    """Make another of the user's tenants active. Not a member: 404, like a missing one."""
    if not request.user.is_authenticated:
        return redirect("login")
    try:
        tenant_id = int(request.POST.get("tenant", ""))
    except ValueError:
        tenant_id = None
    membership = (
        Membership.of_user.active()
        .filter(user=request.user, tenant_id=tenant_id)
        .select_related("tenant")
        .first()
    )
    if membership is None:
        from django.http import Http404

        raise Http404
    request.session[SESSION_KEY] = membership.tenant_id
    messages.success(request, _("Switched to %(tenant)s.") % {"tenant": membership.tenant.name})
    target = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = "dashboard"
    return redirect(target)


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
