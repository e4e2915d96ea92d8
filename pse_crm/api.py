"""The API base: authentication, tenant, roles, queryset, errors. Subclasses only declare.

* The tenant comes from the API key (``Authorization: Bearer <key>``) or from the session's
  membership, never from the payload or the URL.
* ``TenantModelViewSet.get_queryset`` is the model's scoped manager; subclasses may narrow
  it with ``scope_queryset`` (select_related, filters) but never widen it.
* Another tenant's id answers 404, exactly like an id that does not exist: in the path, in
  a filter (``TenantRelatedIdFilter``) and in a payload (``TenantPrimaryKeyRelatedField``).
* Batches: ``validate_batch`` / ``BatchInvalid`` answer 400 with one entry per bad record
  (``index`` in a JSON array, ``line`` in CSV, ``field``, ``message``) and nothing written;
  over ``API_MAX_BATCH_RECORDS`` records or ``API_MAX_BODY_BYTES`` bytes answers 413 naming
  the limit; an unsupported content type 415 (``BoundedJSONParser``, ``RawCSVParser``).
* ``TenantAutoSchema`` documents those error answers on every operation.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import django_filters
from django import forms
from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError, DataError, IntegrityError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_scopes import ScopeError
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, parsers, serializers, status, viewsets
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from pse_crm import roles
from pse_crm.api_auth import APIKeyPrincipal
from pse_crm.models import Membership
from pse_crm.sfid import InvalidSalesforceId, to_18
from pse_crm.tenancy import tenant_scope

log = logging.getLogger(__name__)


def max_body_bytes() -> int:
    return getattr(settings, "API_MAX_BODY_BYTES", 64 * 1024 * 1024)


def max_batch_records() -> int:
    return getattr(settings, "API_MAX_BATCH_RECORDS", 10_000)


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = _("The request body is too large.")
    default_code = "payload_too_large"


@dataclass(frozen=True)
class RecordError:
    """One bad record of a batch: where it is (``index`` in a JSON array, ``line`` in CSV)."""

    field: str
    message: str
    index: int | None = None
    line: int | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.index is not None:
            out["index"] = self.index
        if self.line is not None:
            out["line"] = self.line
        out["field"] = self.field
        out["message"] = str(self.message)
        return out


class BatchInvalid(exceptions.APIException):
    """A batch with at least one bad record: 400, one entry per bad record, nothing written."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"

    def __init__(self, errors: Sequence[RecordError], detail: str | None = None):
        self.errors = list(errors)
        super().__init__(
            detail
            or gettext("%(count)d record(s) are invalid; nothing was written.")
            % {"count": len({(e.index, e.line) for e in self.errors})}
        )


def check_batch_size(count: int) -> None:
    """Raise 413 when a batch holds more records than the API accepts in one request."""
    limit = max_batch_records()
    if count > limit:
        raise PayloadTooLarge(
            gettext("A batch holds at most %(limit)d records; this one has %(count)d.")
            % {"limit": limit, "count": count}
        )


def _read_bounded(stream) -> bytes:
    if stream is None:
        return b""
    limit = max_body_bytes()
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(
            gettext("The request body is larger than %(limit)d bytes.") % {"limit": limit}
        )
    return data


class BoundedJSONParser(parsers.JSONParser):
    """JSON with a size limit (413 past it) and a clear 400 for malformed input."""

    def parse(self, stream, media_type=None, parser_context=None):
        data = _read_bounded(stream)
        try:
            return json.loads(data, parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError) as exc:
            raise exceptions.ParseError(
                gettext("Malformed JSON: %(error)s") % {"error": exc}
            ) from None


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


class RawCSVParser(parsers.BaseParser):
    """``text/csv`` bodies handed to the service as bytes (size-limited: 413 past it)."""

    media_type = "text/csv"

    def parse(self, stream, media_type=None, parser_context=None):
        return _read_bounded(stream)


@extend_schema_field(OpenApiTypes.INT)
class TenantPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    """A related id in a payload, resolved in the tenant's scope (``model``'s scoped manager).

    A missing id and another tenant's id both answer 404, never a hint of existence. The
    queryset is built per request, inside the tenant scope, never at import time.
    """

    def __init__(self, model=None, **kwargs):
        self.model = model
        super().__init__(**kwargs)

    def get_queryset(self):
        return self.model.objects.all()

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | str):
            self.fail("incorrect_type", data_type=type(data).__name__)
        try:
            return self.get_queryset().get(pk=data)
        except (TypeError, ValueError, DjangoValidationError):
            self.fail("incorrect_type", data_type=type(data).__name__)
        except self.model.DoesNotExist:
            raise exceptions.NotFound(
                gettext("%(field)s %(id)s was not found.") % {"field": self.field_name, "id": data}
            ) from None


class SalesforceIdField(serializers.CharField):
    """A Salesforce id: 15 characters are converted to 18, 18 are checked; blank allowed."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 18)
        kwargs.setdefault("allow_blank", True)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not value:
            return ""
        try:
            return to_18(value)
        except InvalidSalesforceId:
            raise serializers.ValidationError(
                gettext("Not a 15- or 18-character Salesforce id.")
            ) from None


class _StrictBooleanField(forms.Field):
    def to_python(self, value):
        if value in (None, ""):
            return None
        lowered = str(value).strip().lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
        raise forms.ValidationError(gettext("Expected true or false."), code="invalid")


class StrictBooleanFilter(django_filters.BooleanFilter):
    """``true``/``false`` (or 1/0); anything else is a 400, never silently ignored."""

    field_class = _StrictBooleanField


class TenantRelatedIdFilter(django_filters.NumberFilter):
    """A filter on a related id: an id unknown in the tenant (or another tenant's) is a 404."""

    field_class = forms.IntegerField

    def __init__(self, *args, model=None, **kwargs):
        # Not ``self.model``: django-filter sets that to the filtered model.
        self.related_model = model
        super().__init__(*args, **kwargs)

    def filter(self, qs, value):
        if value is None:
            return qs
        if not self.related_model.objects.filter(pk=value).exists():
            raise exceptions.NotFound(
                gettext("%(field)s %(id)s was not found.") % {"field": self.field_name, "id": value}
            )
        return qs.filter(**{f"{self.field_name}_id": value})


def _flatten_errors(detail, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(detail, dict):
        out = []
        for key, value in detail.items():
            name = "" if key == api_settings.NON_FIELD_ERRORS_KEY else str(key)
            out.extend(
                _flatten_errors(value, f"{prefix}.{name}" if prefix and name else prefix or name)
            )
        return out
    if isinstance(detail, list):
        out = []
        for value in detail:
            out.extend(_flatten_errors(value, prefix))
        return out
    return [(prefix, str(detail))]


def validate_batch(serializer_class, records, *, context=None) -> list[dict]:
    """Validate a JSON array of records with ``serializer_class``.

    Raises 400 (``BatchInvalid``: one entry per bad field of each bad record, with its
    index) when any record is invalid, and 413 past the batch limit.
    """
    if not isinstance(records, list):
        raise exceptions.ParseError(gettext("Expected a JSON array of records."))
    check_batch_size(len(records))
    serializer = serializer_class(data=records, many=True, context=context or {})
    if serializer.is_valid():
        return list(serializer.validated_data)
    # DRF lists one entry per record, or (3.16+) maps the index of each bad record.
    by_index = serializer.errors
    items = by_index.items() if isinstance(by_index, dict) else enumerate(by_index)
    errors = [
        RecordError(index=int(index), field=field, message=message)
        for index, record_errors in sorted(items, key=lambda item: int(item[0]))
        for field, message in _flatten_errors(record_errors)
    ]
    raise BatchInvalid(errors)


def reject_duplicate_keys(records: Sequence[dict], *fields: str) -> None:
    """400 when two records of one batch share a key (compared case-insensitively)."""
    errors = []
    for field in fields:
        seen: dict[object, int] = {}
        for index, record in enumerate(records):
            value = record.get(field)
            if not value:
                continue
            key = value.lower() if isinstance(value, str) else value
            if key in seen:
                errors.append(
                    RecordError(
                        index=index,
                        field=field,
                        message=gettext("The same value is in record %(other)d of this batch.")
                        % {"other": seen[key]},
                    )
                )
            else:
                seen[key] = index
    if errors:
        raise BatchInvalid(errors)


class BulkResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    ids = serializers.ListField(
        child=serializers.IntegerField(), help_text=_("Stored ids, in the order of the records.")
    )


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


class RecordErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField(required=False, help_text=_("0-based index in a JSON array."))
    line = serializers.IntegerField(required=False, help_text=_("1-based line in a CSV body."))
    field = serializers.CharField()
    message = serializers.CharField()


class BatchErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    errors = RecordErrorSerializer(many=True, required=False)


_ERROR_RESPONSES = {
    "400": (_("Invalid input: one entry per bad field or record."), BatchErrorSerializer),
    "401": (_("No credentials, or an invalid or revoked API key."), ErrorSerializer),
    "403": (_("The role of the key or the member does not allow this."), ErrorSerializer),
    "404": (_("Not found in this tenant (another tenant's id looks the same)."), ErrorSerializer),
    "413": (_("Too many records or too large a body; the message names the limit."), None),
    "409": (_("It conflicts with stored data (still referenced, or a duplicate)."), None),
    "415": (_("Unsupported content type."), ErrorSerializer),
    "429": (_("Too many requests for this key; retry later."), ErrorSerializer),
}
# Codes that only a request with a body (or a delete, for 409) can get.
_SKIP_CODES = {
    "GET": {"409", "413", "415"},
    "HEAD": {"409", "413", "415"},
    "DELETE": {"400", "413", "415"},
}


class TenantAutoSchema(AutoSchema):
    """Every operation documents its error answers, in the one error shape the API uses."""

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return operation
        responses = operation.setdefault("responses", {})
        is_detail = "{" in path
        for code, (description, serializer) in _ERROR_RESPONSES.items():
            if code in responses:
                continue
            if code in _SKIP_CODES.get(method, set()):
                continue
            if code == "404" and not is_detail and method == "GET":
                # A list answers 404 only when a filter names an unknown id.
                description = _("A filter names an id that does not exist in this tenant.")
            component = self.resolve_serializer(serializer or ErrorSerializer, "response")
            responses[code] = {
                "description": str(description),
                "content": {"application/json": {"schema": component.ref}},
            }
        return operation


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
        if getattr(self, "swagger_fake_view", False):
            # Schema generation runs outside any tenant: an empty, unscoped queryset
            # lets drf-spectacular read the model without touching a tenant's rows.
            return self.model._base_manager.none()
        return self.scope_queryset(self.model.objects.all())

    def perform_create(self, serializer):
        serializer.save(tenant=self.request.tenant)


class TenantReadOnlyViewSet(TenantAPIMixin, viewsets.ReadOnlyModelViewSet):
    model = None
    read_capability = roles.READ

    def scope_queryset(self, queryset):
        return queryset

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            # Schema generation runs outside any tenant: an empty, unscoped queryset
            # lets drf-spectacular read the model without touching a tenant's rows.
            return self.model._base_manager.none()
        return self.scope_queryset(self.model.objects.all())


def exception_handler(exc, context):
    """DRF's handler, plus: a scope miss is a 404, a bad batch lists its bad records, a
    uniqueness race is a 409, an over-size body a 413 and a database outage a clear 503."""
    if isinstance(exc, BatchInvalid):
        return Response(
            {"detail": str(exc.detail), "errors": [e.as_dict() for e in exc.errors]},
            status=exc.status_code,
        )
    if isinstance(exc, ScopeError | Membership.DoesNotExist):
        exc = Http404()
    if isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    response = drf_exception_handler(exc, context)
    if response is None and isinstance(exc, ProtectedError | RestrictedError):
        return Response(
            {"detail": _("It cannot be deleted: other records (reps, views, deals) refer to it.")},
            status=409,
        )
    if response is None and isinstance(exc, IntegrityError):
        log.info("integrity error in API request", exc_info=True)
        return Response(
            {"detail": _("This conflicts with a record stored meanwhile; retry the request.")},
            status=409,
        )
    if response is None and isinstance(exc, DataError):
        log.info("data error in API request", exc_info=True)
        return Response({"detail": _("A value does not fit its field.")}, status=400)
    if response is None and isinstance(exc, DatabaseError):
        log.exception("database error in API request")
        return Response({"detail": _("The database is unavailable; try again.")}, status=503)
    return response
