"""Serializer fields shared by the apps: tenant-scoped related fields (another tenant's id
is refused like a missing one), Salesforce ids, members."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext, gettext_lazy
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, serializers

from pse_crm.sfid import InvalidSalesforceId, to_18
from pse_crm.tenancy import current_tenant

User = get_user_model()


@extend_schema_field(OpenApiTypes.INT)
class TenantMemberField(serializers.PrimaryKeyRelatedField):
    """A user id that must be an active member of the request's tenant."""

    def get_queryset(self):
        return User.objects.filter(
            memberships__tenant=current_tenant(), memberships__is_active=True
        ).distinct()


class LabelListField(serializers.ListField):
    child = serializers.CharField(max_length=100, allow_blank=True)

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 50)
        super().__init__(**kwargs)


class UserBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    email = serializers.EmailField(read_only=True)
    name = serializers.CharField(source="get_full_name", read_only=True)


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


# A Salesforce id as the schema documents it: 15 or 18 letters and digits. An 18-character
# id must also carry its own checksum suffix (``format: salesforce-id``, pse_crm.sfid).
_SALESFORCE_ID = r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?"
SALESFORCE_ID_PATTERN = rf"^{_SALESFORCE_ID}$"
SALESFORCE_ID_FORMAT = "salesforce-id"


class SalesforceIdField(serializers.CharField):
    """A Salesforce id: 15 characters are converted to 18, 18 are checked; blank allowed.

    Not trimmed: an id with spaces is refused like any id that breaks the pattern the
    schema documents."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 18)
        kwargs.setdefault("allow_blank", True)
        kwargs.setdefault("trim_whitespace", False)
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


class SalesforceIdFieldSchema(OpenApiSerializerFieldExtension):
    """The schema of ``SalesforceIdField``: its pattern and format, blank when allowed."""

    target_class = SalesforceIdField

    def map_serializer_field(self, auto_schema, direction):
        pattern = rf"^(?:{_SALESFORCE_ID})?$" if self.target.allow_blank else SALESFORCE_ID_PATTERN
        return {
            "type": "string",
            "format": SALESFORCE_ID_FORMAT,
            "pattern": pattern,
            "maxLength": 18,
            "description": str(
                gettext_lazy(
                    "A Salesforce id: 15 characters (stored as 18), or 18 with their checksum "
                    "suffix."
                )
            ),
        }
