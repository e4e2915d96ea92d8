"""Role checks: the one reading of the request's role, used by pages and the API alike."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied

from pse_crm import roles


def request_role(request) -> str | None:
    """The role the request acts with: an API key's own (``integration``), else the role of
    the member's membership in the request's tenant, else None (no capability at all).

    Pages read the membership the middleware set; the API base class sets it again once
    DRF has authenticated (None for an API key, so a session cookie sent along with a key
    cannot lend the key a member's role).
    """
    api_role = getattr(getattr(request, "user", None), "api_role", None)
    if api_role is not None:
        return api_role
    membership = getattr(request, "membership", None)
    return membership.role if membership is not None else None


def check_capability(request, capability: frozenset[str]) -> None:
    """Raise PermissionDenied (403) unless the request's role holds ``capability``."""
    if not roles.role_allows(request_role(request), capability):
        raise PermissionDenied


class TenantViewMixin(LoginRequiredMixin):
    """Class-based views: login required, a tenant, and a capability (default: read)."""

    capability: frozenset[str] = roles.READ

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        check_capability(request, self.capability)
        return super().dispatch(request, *args, **kwargs)


def capability_required(capability: frozenset[str]):
    """Function views: like TenantViewMixin. Anonymous users go to the login page."""
    from django.contrib.auth.views import redirect_to_login

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            check_capability(request, capability)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
