"""Role checks: the one reading of the request's role, used by pages and the API alike."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied

from pse_crm import roles


def request_roles(request) -> frozenset[str]:
    """The roles the request acts with: an API key's, one per scope (never a member's), else
    the role of the member's membership in the request's tenant, else none.

    Pages read the membership the middleware set; the API base class sets it again once
    DRF has authenticated (None for an API key, so a session cookie sent along with a key
    cannot lend the key a member's role).
    """
    api_roles = getattr(getattr(request, "user", None), "api_roles", None)
    if api_roles is not None:
        return api_roles
    membership = getattr(request, "membership", None)
    return frozenset({membership.role}) if membership is not None else frozenset()


def request_allows(request, capability: frozenset[str]) -> bool:
    """The one rule for pages and the API: whether the request's roles hold ``capability``.
    A key does only what one of its scopes allows."""
    return roles.roles_allow(request_roles(request), capability)


def request_role(request) -> str | None:
    """The one role the request acts with: the member's, or a key's when it has exactly one
    scope (``integration`` for ``write``); None otherwise. Capability checks use
    ``request_allows``, which weighs every scope of a key."""
    held = request_roles(request)
    return next(iter(held)) if len(held) == 1 else None


def check_capability(request, capability: frozenset[str]) -> None:
    """Raise PermissionDenied (403) unless the request's roles hold ``capability``."""
    if not request_allows(request, capability):
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
