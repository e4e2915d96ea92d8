"""The API base viewsets: tenant, roles and queryset decided once; subclasses only declare."""

from __future__ import annotations

from contextlib import ExitStack

from django.utils.translation import gettext
from rest_framework import viewsets
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from pse_crm import roles
from pse_crm.api.auth import APIKeyPrincipal
from pse_crm.api.limits import PayloadTooLarge, max_body_bytes
from pse_crm.api.schema import TenantAutoSchema
from pse_crm.tenancy import tenant_scope


class TenantAPIMixin:
    """Enter the tenant of the key or the session for the whole handling of the request."""

    def dispatch(self, request, *args, **kwargs):
        with ExitStack() as stack:
            self._tenant_stack = stack
            return super().dispatch(request, *args, **kwargs)

    schema = TenantAutoSchema()

    def initial(self, request, *args, **kwargs):
        self.perform_authentication(request)
        tenant = None
        membership = None
        if isinstance(request.user, APIKeyPrincipal):
            tenant = request.user.tenant
        elif request.user and request.user.is_authenticated:
            membership = getattr(request._request, "membership", None)
            if membership is not None:
                tenant = membership.tenant
        # Read by pse_crm.permissions.request_role: the member DRF authenticated, none for a
        # key (the middleware's membership of a session cookie sent along stays unused).
        request.membership = membership
        request.tenant = tenant
        if tenant is not None:
            self._tenant_stack.enter_context(tenant_scope(tenant))
        super().initial(request, *args, **kwargs)
        # After authentication (anonymous is 401 first): refuse an over-size body unread.
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > max_body_bytes():
            raise PayloadTooLarge(
                gettext("The request body is larger than %(limit)d bytes.")
                % {"limit": max_body_bytes()}
            )

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if isinstance(response, Response) and response.status_code >= 400:
            # Every error is JSON in the one shape, whatever the client accepts (a browser
            # asking for HTML, or a 406 for an Accept the API cannot answer).
            response.accepted_renderer = JSONRenderer()
            response.accepted_media_type = JSONRenderer.media_type
            response.renderer_context = self.get_renderer_context()
        return response

    @property
    def tenant(self):
        return self.request.tenant


class TenantQuerysetMixin:
    """The queryset of ``model`` in the tenant's scope, narrowed by ``scope_queryset``."""

    model = None
    read_capability = roles.READ

    def scope_queryset(self, queryset):
        """Narrow the tenant's queryset (select_related, defaults). Never widen it."""
        return queryset

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            # Schema generation runs outside any tenant: an empty, unscoped queryset
            # lets drf-spectacular read the model without touching a tenant's rows.
            return self.model._base_manager.none()
        return self.scope_queryset(self.model.objects.all())


class TenantModelViewSet(TenantQuerysetMixin, TenantAPIMixin, viewsets.ModelViewSet):
    """Base of every tenant-owned resource. Declare ``model``, serializer and capabilities."""

    write_capability: frozenset[str] = frozenset()

    def perform_create(self, serializer):
        serializer.save(tenant=self.request.tenant)


class TenantReadOnlyViewSet(TenantQuerysetMixin, TenantAPIMixin, viewsets.ReadOnlyModelViewSet):
    """Base of a tenant-owned resource that the API only lists and retrieves."""
