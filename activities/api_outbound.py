"""``POST /api/v1/salesforce/outbound/<key>/``: Salesforce Outbound Messages of Opportunities.

Salesforce cannot send an Authorization header, so the endpoint URL carries the key: a
full API key (``prefix.secret``) with the ``outbound`` scope, not revoked, not expired, of
an active tenant. Anything else answers 401 with a SOAP fault and reads nothing. The key
is redacted from every log line (``pse_crm.logs.redact_path``). There is no session
authentication here, and so no CSRF; the per-key throttle of the API applies.

The answer is SOAP: ``<Ack>true</Ack>`` once the records are committed (``deal_sync``, in
the key's tenant scope, entered by ``TenantAPIMixin``), a fault with HTTP 500 on any other
outcome (a malformed message, a bad record, which it names, a database error), so that
Salesforce sends the message again. A message sent again changes nothing: its versions are
``unchanged``.
"""

from __future__ import annotations

import logging
import re

from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema
from rest_framework import authentication, exceptions, permissions, status
from rest_framework.views import APIView

from activities.models import SalesforceConnection
from activities.outbound import (
    OutboundMessageInvalid,
    ack,
    errors_text,
    fault,
    outbound_message_read,
)
from activities.selectors import sync_settings_get
from activities.services.deals import deal_sync
from pse_crm.api.auth import APIKeyPrincipal
from pse_crm.api.parsers import SafeXMLApplicationParser, SafeXMLParser
from pse_crm.api.viewsets import TenantAPIMixin
from pse_crm.models import TenantAPIKey
from pse_crm.roles import KeyScope

log = logging.getLogger(__name__)

# What djangorestframework-api-key issues: an 8-character prefix, a dot, a 32-character
# secret. Anything else is refused before the database is asked (a NUL in a path would
# reach PostgreSQL otherwise).
_KEY_SHAPE = re.compile(r"[A-Za-z0-9]{1,64}\.[A-Za-z0-9]{1,128}")
_XML = "text/xml; charset=utf-8"


class OutboundKeyAuthentication(authentication.BaseAuthentication):
    """The key in the URL path; it must hold the ``outbound`` scope."""

    def authenticate(self, request):
        raw = (request.parser_context or {}).get("kwargs", {}).get("key") or ""
        key = None
        if _KEY_SHAPE.fullmatch(raw):
            try:
                key = TenantAPIKey.objects.get_from_key(raw)
            except TenantAPIKey.DoesNotExist:
                key = None
        if (
            key is None
            or key.has_expired  # get_from_key checks revoked, not expired
            or not key.tenant.is_active
            or KeyScope.OUTBOUND not in key.scope_list
        ):
            raise exceptions.AuthenticationFailed(
                gettext("Invalid or revoked key, or a key without the outbound scope.")
            )
        now = timezone.now()
        if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
            TenantAPIKey.objects.filter(pk=key.pk).update(last_used_at=now)
        return APIKeyPrincipal(key), key

    def authenticate_header(self, request):
        return 'APIKey realm="salesforce-outbound"'


class HasOutboundScope(permissions.BasePermission):
    def has_permission(self, request, view):
        principal = request.user
        return (
            isinstance(principal, APIKeyPrincipal)
            and KeyScope.OUTBOUND in principal.key.scope_list
            and getattr(request, "tenant", None) is not None
        )


def _soap(body: bytes, status_code: int = status.HTTP_200_OK) -> HttpResponse:
    return HttpResponse(body, status=status_code, content_type=_XML)


@extend_schema(exclude=True)  # SOAP for Salesforce, documented in docs/deal-sync.md
class SalesforceOutboundView(TenantAPIMixin, APIView):
    authentication_classes = [OutboundKeyAuthentication]
    permission_classes = [HasOutboundScope]
    parser_classes = [SafeXMLParser, SafeXMLApplicationParser]

    def post(self, request, key: str):
        root = request.data
        if not hasattr(root, "tag"):
            raise OutboundMessageInvalid([])
        tenant = request.tenant
        sync_settings = sync_settings_get(tenant=tenant)
        message = outbound_message_read(
            root,
            partner_field=sync_settings.partner_field,
            rep_field=sync_settings.rep_field,
            rep_match=sync_settings.rep_match,
        )
        org_id = (
            SalesforceConnection.objects.filter(tenant=tenant)
            .values_list("org_id", flat=True)
            .first()
        )
        # A connected org is the only one whose messages this tenant takes (ids compared
        # in their case-sensitive 15-character form).
        if org_id and message.organization_id[:15] != org_id[:15]:
            return _soap(
                fault(
                    gettext(
                        "This message comes from organisation %(sent)s; the tenant is "
                        "connected to %(org)s. Nothing was stored."
                    )
                    % {"sent": message.organization_id or "?", "org": org_id},
                    client=True,
                ),
                status.HTTP_500_INTERNAL_SERVER_ERROR,
            )
        result = deal_sync(tenant=tenant, deals=message.deals)
        log.info(
            "salesforce outbound message stored",
            extra={
                "notifications": len(message.notification_ids),
                "deals_created": result.created,
                "deals_updated": result.updated,
                "deals_unchanged": result.unchanged,
                "deals_stale": result.stale,
                "deals_deleted": result.deleted,
            },
        )
        return _soap(ack())

    def handle_exception(self, exc):
        """Every outcome but the Ack is a SOAP fault: Salesforce retries until it is acked."""
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            response = _soap(fault(str(exc.detail), client=True), status.HTTP_401_UNAUTHORIZED)
            response["WWW-Authenticate"] = OutboundKeyAuthentication().authenticate_header(None)
            return response
        if isinstance(exc, exceptions.PermissionDenied):
            return _soap(fault(str(exc.detail), client=True), status.HTTP_401_UNAUTHORIZED)
        if isinstance(exc, exceptions.Throttled):
            response = _soap(fault(str(exc.detail)), status.HTTP_429_TOO_MANY_REQUESTS)
            if exc.wait is not None:
                response["Retry-After"] = str(int(exc.wait) + 1)
            return response
        error = status.HTTP_500_INTERNAL_SERVER_ERROR
        if isinstance(exc, OutboundMessageInvalid):
            text = errors_text(exc.errors, exc.notification_ids) or gettext(
                "Expected a SOAP envelope with the notifications of a Salesforce outbound message."
            )
            if exc.records:
                count = len({e.row for e in exc.errors})
                summary = gettext("%(count)d record(s) are invalid; nothing was stored.")
                text = f"{summary % {'count': count}}\n{text}"
            return _soap(fault(text, client=True), error)
        if isinstance(exc, exceptions.APIException):
            # Malformed XML, a DTD or entities, a body too large, a media type not XML.
            return _soap(fault(str(exc.detail), client=True), error)
        # A database error (a value refused, a lock timeout) or any other failure: nothing
        # was committed (deal_sync is one transaction); Salesforce will send it again.
        log.exception("salesforce outbound message not stored")
        return _soap(
            fault(gettext("The records could not be stored; nothing was. Send them again.")),
            error,
        )
