"""Core pages: tenant switcher, health, and the owners' settings for members and API keys.

The product's pages live in their apps (the dashboard in ``enablement``); the core knows
no app.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from pse_crm import roles
from pse_crm.forms import APIKeyCreateForm, InvitationPasswordForm, MemberAddForm, MemberRoleForm
from pse_crm.middleware import SESSION_KEY
from pse_crm.models import Invitation, Membership, TenantAPIKey, User
from pse_crm.permissions import capability_required
from pse_crm.services.api_keys import api_key_create
from pse_crm.services.invitations import (
    INVITATION_CLOSED,
    invitation_accept,
    invitation_create,
    invitation_from_token,
    invitation_resend,
    invitation_revoke,
)
from pse_crm.services.memberships import membership_role_change


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
            invitation = invitation_create(
                tenant=request.tenant, invited_by=request.user, **form.cleaned_data
            )
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            # The same words for every address: nothing tells whether it has an account.
            messages.success(
                request, _("Invitation sent to %(email)s.") % {"email": invitation.email}
            )
            return redirect("settings-members")
    members = Membership.objects.select_related("user").order_by("-is_active", "user__email")
    invitations = Invitation.objects.open().select_related("invited_by").order_by("email")
    return render(
        request,
        "settings/members.html",
        {
            "members": members,
            "invitations": invitations,
            "form": form,
            "roles": roles.Role.choices,
            "tab": "members",
            "invitation_days": settings.INVITATION_DAYS,
        },
    )


@require_POST
@capability_required(roles.OWN)
def settings_invitation_resend(request: HttpRequest, pk: int) -> HttpResponse:
    invitation = get_object_or_404(Invitation.objects.open(), pk=pk)
    try:
        invitation_resend(invitation=invitation)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request, _("Invitation sent again to %(email)s.") % {"email": invitation.email}
        )
    return redirect("settings-members")


@require_POST
@capability_required(roles.OWN)
def settings_invitation_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    invitation = get_object_or_404(Invitation.objects.open(), pk=pk)
    invitation_revoke(invitation=invitation)
    messages.success(
        request, _("The invitation to %(email)s is withdrawn.") % {"email": invitation.email}
    )
    return redirect("settings-members")


# --- The invitation link (public: the invitee may have no account yet) ------------------


def _invitation_closed(request: HttpRequest, message: str, status: int) -> HttpResponse:
    return render(request, "invitations/closed.html", {"message": message}, status=status)


def _invitation_joined(request: HttpRequest, membership: Membership) -> HttpResponse:
    request.session[SESSION_KEY] = membership.tenant_id
    messages.success(request, _("Welcome to %(tenant)s.") % {"tenant": membership.tenant.name})
    return redirect("dashboard")


@require_http_methods(["GET", "POST"])
def invitation_accept_page(request: HttpRequest, token: str) -> HttpResponse:
    """Accept an invitation. Logged in as the invited address: confirm. Not logged in: a
    new address sets its password here, an address with an account logs in first and
    comes back. A used, revoked, expired or replaced link answers a page saying so."""
    invitation = invitation_from_token(token=token)
    if invitation is None:
        return _invitation_closed(
            request,
            _(
                "This invitation link is not valid. If you were sent a newer invitation, "
                "use the link in that email."
            ),
            404,
        )
    state = invitation.state
    if state != Invitation.State.PENDING:
        return _invitation_closed(request, INVITATION_CLOSED[state](), 410)
    user = request.user
    if user.is_authenticated and user.email.lower() != invitation.email:
        # Nothing of the invitation (tenant, address) to someone else's login.
        return render(request, "invitations/other_address.html", status=403)
    context = {"invitation": invitation, "tenant": invitation.tenant}
    if user.is_authenticated:
        if request.method == "POST":
            try:
                membership = invitation_accept(token=token, user=user)
            except ValidationError as error:
                return _invitation_closed(request, " ".join(error.messages), 410)
            return _invitation_joined(request, membership)
        return render(request, "invitations/accept.html", context)
    if User.objects.filter(email__iexact=invitation.email).exists():
        return redirect_to_login(request.get_full_path())
    form = InvitationPasswordForm(email=invitation.email, data=request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            membership = invitation_accept(token=token, password=form.cleaned_data["password1"])
        except ValidationError as error:
            if error.code == "account_exists":
                return redirect_to_login(request.get_full_path())
            return _invitation_closed(request, " ".join(error.messages), 410)
        login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
        return _invitation_joined(request, membership)
    return render(request, "invitations/accept.html", {**context, "form": form})


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
        try:
            _obj, new_key = api_key_create(tenant=request.tenant, **form.cleaned_data)
        except ValidationError as error:
            form.add_service_errors(error)
        else:
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
