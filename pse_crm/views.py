"""Core pages: tenant switcher, health, and the owners' settings for members and API keys.

The product's pages live in their apps (the dashboard in ``enablement``); the core knows
no app.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from pse_crm import roles
from pse_crm.forms import APIKeyCreateForm, MemberAddForm, MemberRoleForm
from pse_crm.middleware import SESSION_KEY
from pse_crm.models import Membership, TenantAPIKey
from pse_crm.permissions import capability_required
from pse_crm.services.memberships import membership_add, membership_role_change


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


# --- Settings: members and roles -------------------------------------------------------


@capability_required(roles.OWN)
def settings_members(request: HttpRequest) -> HttpResponse:
    form = MemberAddForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            membership = membership_add(tenant=request.tenant, **form.cleaned_data)
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(
                request, _("%(email)s is now a member.") % {"email": membership.user.email}
            )
            return redirect("settings-members")
    members = Membership.objects.select_related("user").order_by("-is_active", "user__email")
    return render(
        request,
        "settings/members.html",
        {"members": members, "form": form, "roles": roles.Role.choices, "tab": "members"},
    )


@require_POST
@capability_required(roles.OWN)
def settings_member_update(request: HttpRequest, pk: int) -> HttpResponse:
    membership = get_object_or_404(Membership.objects.select_related("user"), pk=pk)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a valid role."))
        return redirect("settings-members")
    try:
        membership_role_change(membership=membership, **form.cleaned_data)
    except ValidationError as error:
        # The last active owner, say: the service's message, as the admin shows it.
        messages.error(request, " ".join(error.messages))
        return redirect("settings-members")
    messages.success(request, _("Saved %(email)s.") % {"email": membership.user.email})
    return redirect("settings-members")


# --- Settings: API keys -----------------------------------------------------------------


def _tenant_keys(request: HttpRequest):
    # TenantAPIKey is looked up by prefix before a tenant is known, so it is not a scoped
    # model: every read here filters by the request's tenant explicitly.
    return TenantAPIKey.objects.filter(tenant=request.tenant)


@capability_required(roles.OWN)
def settings_api_keys(request: HttpRequest) -> HttpResponse:
    form = APIKeyCreateForm(request.POST or None)
    new_key = None
    if request.method == "POST" and form.is_valid():
        _obj, new_key = TenantAPIKey.objects.create_key(
            tenant=request.tenant, name=form.cleaned_data["name"]
        )
        form = APIKeyCreateForm()
    keys = _tenant_keys(request).order_by("revoked", "-created")
    return render(
        request,
        "settings/api_keys.html",
        {"keys": keys, "form": form, "new_key": new_key, "tab": "api-keys"},
    )


@require_POST
@capability_required(roles.OWN)
def settings_api_key_revoke(request: HttpRequest, prefix: str) -> HttpResponse:
    key = get_object_or_404(_tenant_keys(request), prefix=prefix)
    if not key.revoked:
        key.revoked = True
        key.save(update_fields=["revoked"])
        messages.success(request, _("The key “%(name)s” is revoked.") % {"name": key.name})
    return redirect("settings-api-keys")
