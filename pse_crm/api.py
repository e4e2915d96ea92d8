"""The API base: authentication, tenant, roles, queryset, errors. Subclasses only declare.

* The tenant comes from the API key (``Authorization: Bearer <key>``) or from the session's
  membership, never from the payload or the URL.
* ``TenantModelViewSet.get_queryset`` is the model's scoped manager; subclasses may narrow
  it with ``scope_queryset`` (select_related, filters) but never widen it.
* Another tenant's id answers 404, exactly like an id that does not exist.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import DatabaseError
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from django_scopes import ScopeError
from rest_framework import exceptions, viewsets
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from pse_crm import roles
from pse_crm.api_auth import APIKeyPrincipal
from pse_crm.models import Membership
from pse_crm.tenancy import tenant_scope

log = logging.getLogger(__name__)


class TenantAPIMixin:
    """Enter the tenant of the key or the session for the whole handling of the request."""

    def dispatch(self, request, *args, **kwargs):
        with ExitStack() as stack:
            self._tenant_stack = stack
            return super().dispatch(request, *args, **kwargs)

    def initial(self, request, *args, **kwargs):
        self.perform_authentication(request)
        tenant = None
        request.api_membership = None
        if isinstance(request.user, APIKeyPrincipal):
            tenant = request.user.tenant
        elif request.user and request.user.is_authenticated:
            membership = getattr(request._request, "membership", None)
            if membership is not None:
                tenant = membership.tenant
                request.api_membership = membership
        request.tenant = tenant
        if tenant is not None:
            self._tenant_stack.enter_context(tenant_scope(tenant))
        super().initial(request, *args, **kwargs)

    @property
    def tenant(self):
        return self.request.tenant


class TenantModelViewSet(TenantAPIMixin, viewsets.ModelViewSet):
    """Base of every tenant-owned resource. Declare ``model``, serializer and capabilities."""

    model = None
    read_capability = roles.READ
    write_capability: frozenset[str] = frozenset()

    def scope_queryset(self, queryset):
        """Narrow the tenant's queryset (select_related, defaults). Never widen it."""
        return queryset

    def get_queryset(self):
        return self.scope_queryset(self.model.objects.all())

    def perform_create(self, serializer):
        serializer.save(tenant=self.request.tenant)


class TenantReadOnlyViewSet(TenantAPIMixin, viewsets.ReadOnlyModelViewSet):
    model = None
    read_capability = roles.READ

    def scope_queryset(self, queryset):
        return queryset

    def get_queryset(self):
        return self.scope_queryset(self.model.objects.all())


def exception_handler(exc, context):
    """DRF's handler, plus: a scope miss is a 404, a database error is a clear 503."""
    if isinstance(exc, ScopeError | Membership.DoesNotExist):
        exc = Http404()
    if isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None and isinstance(exc, DatabaseError):
        log.exception("database error in API request")
        return Response({"detail": _("The database is unavailable; try again.")}, status=503)
    return response
