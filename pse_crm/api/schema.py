"""The OpenAPI schema: every operation documents its error answers."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers


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


# One record's errors, as DRF reports them: each bad field (``non_field_errors`` for the
# record as a whole, ``detail`` for a service's refusal) with its messages, nested by
# index or key for list and object fields.
FIELD_ERRORS_SCHEMA = {
    "type": "object",
    "description": str(_('Each bad field with its messages: {"name": ["…"]}.')),
    "minProperties": 1,
    "additionalProperties": {
        "oneOf": [{"type": "array", "items": {"type": "string"}}, {"type": "object"}]
    },
}


_ERROR_RESPONSES = {
    "400": (_("Invalid input: one entry per bad field or record."), BatchErrorSerializer),
    "401": (_("No credentials, or an invalid or revoked API key."), ErrorSerializer),
    "403": (_("The member's role or the key's scopes do not allow this."), ErrorSerializer),
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


# Text the API stores holds no NUL (PostgreSQL refuses it; the edge and the parsers answer
# 400): said once for every free-text input, so that no client takes it as valid.
NO_NUL_PATTERN = "^[^\\u0000]*$"
_TEXT_KEYWORDS = ("pattern", "enum", "format")


def _no_nul(schema: dict) -> dict:
    if schema.get("type") == "string" and not any(k in schema for k in _TEXT_KEYWORDS):
        schema["pattern"] = NO_NUL_PATTERN
    return schema


class TenantAutoSchema(AutoSchema):
    """Every operation documents its error answers as the API gives them: ``BatchError``
    for a batch (the view's ``batch_actions``), ``BatchError`` or ``FieldErrors`` for one
    record, ``Error`` (``detail``) for the rest."""

    def _is_batch(self) -> bool:
        return self.method == "POST" and getattr(self.view, "action", None) in getattr(
            self.view, "batch_actions", ()
        )

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if direction == "request" and isinstance(field, serializers.CharField):
            _no_nul(schema)
        return schema

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return operation
        for parameter in operation.get("parameters", []):
            if parameter.get("in") in ("query", "path") and "schema" in parameter:
                _no_nul(parameter["schema"])
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
            schema = component.ref
            if code == "400" and not self._is_batch():
                schema = {"anyOf": [component.ref, FIELD_ERRORS_SCHEMA]}
                description = _("Invalid input: each bad field with its messages.")
            responses[code] = {
                "description": str(description),
                "content": {"application/json": {"schema": schema}},
            }
        return operation
