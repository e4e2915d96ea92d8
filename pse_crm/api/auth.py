"""API authentication, roles, throttling and pagination (DRF default classes).

Kept apart from pse_crm/api.py because DRF imports its default classes while building
its views: this module must not import rest_framework.views.
"""

from __future__ import annotations

import logging

from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, pagination, permissions, throttling

from pse_crm import roles
from pse_crm.models import TenantAPIKey
from pse_crm.permissions import request_allows

log = logging.getLogger(__name__)


class APIKeyPrincipal:
    """The authenticated "user" of a request made with an API key."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __init__(self, key: TenantAPIKey):
        self.key = key
        self.tenant = key.tenant
        # What pse_crm.permissions.request_roles answers for a key: one role per scope,
        # never a member's role.
        self.api_roles = key.roles

    def __str__(self) -> str:
        return f"api-key:{self.key.name}"


class BearerAPIKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1").split()
        if not header or header[0] != self.keyword:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Malformed Authorization header."))
        raw = header[1]
        prefix = raw.partition(".")[0]
        # The prefix finds the row; the hash of the whole key proves it (as get_from_key does,
        # with the tenant fetched in the same query).
        key = (
            TenantAPIKey.objects.select_related("tenant")
            .filter(prefix=prefix, revoked=False)
            .first()
        )
        if key is None or not key.is_valid(raw) or key.has_expired or not key.tenant.is_active:
            raise exceptions.AuthenticationFailed(_("Invalid or revoked API key."))
        now = timezone.now()
        # Record use at most once a minute: a hot key must not write on every request.
        if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
            TenantAPIKey.objects.filter(pk=key.pk).update(last_used_at=now)
        return APIKeyPrincipal(key), key

    def authenticate_header(self, request):
        return self.keyword


class CsrfSessionAuthentication(authentication.SessionAuthentication):
    """Session auth with CSRF enforced (DRF's default behaviour, named for clarity)."""


class BearerAuthScheme(OpenApiAuthenticationExtension):
    target_class = "pse_crm.api.auth.BearerAPIKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A tenant API key."}


class SessionAuthScheme(OpenApiAuthenticationExtension):
    target_class = "pse_crm.api.auth.CsrfSessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": "sessionid",
            "description": "A logged-in member's session; unsafe methods need the CSRF token.",
        }


class TenantRolePermission(permissions.BasePermission):
    """Safe methods need the view's ``read_capability``; others its ``write_capability``
    (or ``action_capabilities[action]``). One rule for members and keys
    (``pse_crm.permissions.request_allows``): a key does only what its scopes allow."""

    def has_permission(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return False
        if getattr(request, "tenant", None) is None:
            return False
        if request.method in permissions.SAFE_METHODS:
            capability = getattr(view, "read_capability", roles.READ)
        else:
            capability = getattr(view, "write_capability", frozenset())
            capability = getattr(view, "action_capabilities", {}).get(
                getattr(view, "action", None), capability
            )
        if request_allows(request, capability):
            return True
        if isinstance(request.user, APIKeyPrincipal):
            # Said plainly: which scopes the key has, so its owner knows what to change.
            self.message = gettext("This API key's scopes (%(scopes)s) do not allow this.") % {
                "scopes": request.user.key.scopes
            }
        return False


class DefaultCursorPagination(pagination.CursorPagination):
    page_size = 100
    max_page_size = 1000
    page_size_query_param = "page_size"
    ordering = "-pk"


class PerKeyThrottle(throttling.SimpleRateThrottle):
    """One bucket per API key (or per user for session clients)."""

    scope = "per_key"

    def get_cache_key(self, request, view):
        if isinstance(request.user, APIKeyPrincipal):
            ident = f"key:{request.user.key.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except Exception:  # a cache outage must not take the API down
            log.warning("throttle cache unavailable; request allowed", exc_info=True)
            return True
