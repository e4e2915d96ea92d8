"""Serializer fields shared by the apps: tenant-scoped related fields (another tenant's id
is refused like a missing one), Salesforce ids, members."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext
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
