"""API representations of reps."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from partners.models import Partner
from pse_crm.api.fields import SalesforceIdField, TenantPrimaryKeyRelatedField
from reps.models import Rep

REP_FIELDS = [
    "id",
    "partner",
    "partner_external_id",
    "name",
    "email",
    "external_id",
    "salesforce_user_id",
    "title",
    "hire_type",
    "started_at_partner",
    "influence",
    "is_employed",
    "notes",
    "created_at",
    "updated_at",
]
_PARTNER_EXTERNAL_ID_HELP = _("The partner's Salesforce Account Id, instead of partner.")


class RepSerializer(serializers.ModelSerializer):
    partner = TenantPrimaryKeyRelatedField(model=Partner, required=False)
    partner_external_id = SalesforceIdField(
        write_only=True, required=False, help_text=_PARTNER_EXTERNAL_ID_HELP
    )
    email = serializers.EmailField(required=False, allow_blank=True, max_length=254)
    salesforce_user_id = SalesforceIdField(required=False)

    class Meta:
        model = Rep
        fields = REP_FIELDS
        read_only_fields = ["id", "created_at", "updated_at"]

    def _unique(self, field: str, value: str, message: str) -> str:
        if value:
            clash = Rep.objects.filter(**{field: value})
            if self.instance is not None:
                clash = clash.exclude(pk=self.instance.pk)
            if clash.exists():
                raise serializers.ValidationError(message)
        return value

    def validate_email(self, value: str) -> str:
        return self._unique("email", value.strip().lower(), _("A rep with this email exists."))

    def validate_external_id(self, value: str) -> str:
        return self._unique("external_id", value, _("A rep with this external id exists."))

    def validate_salesforce_user_id(self, value: str) -> str:
        return self._unique(
            "salesforce_user_id", value, _("A rep with this Salesforce user id exists.")
        )

    def validate(self, attrs):
        external = attrs.pop("partner_external_id", "")
        if external:
            partner = Partner.objects.filter(external_id=external).first()
            if partner is None:
                raise serializers.ValidationError(
                    {"partner_external_id": _("No partner has this Salesforce Account Id.")}
                )
            attrs["partner"] = partner
        if self.instance is None and attrs.get("partner") is None:
            raise serializers.ValidationError({"partner": _("This field is required.")})
        return attrs


class RepBulkRecordSerializer(serializers.ModelSerializer):
    """One record of ``POST reps/bulk``: matched by ``external_id``, else by ``email``.

    A new rep needs ``name`` and its partner (``partner`` id or ``partner_external_id``);
    omitted fields of an existing rep keep their stored value.
    """

    partner = serializers.IntegerField(required=False, help_text=_("The partner's id."))
    partner_external_id = SalesforceIdField(required=False, help_text=_PARTNER_EXTERNAL_ID_HELP)
    name = serializers.CharField(max_length=200, required=False)
    email = serializers.EmailField(required=False, allow_blank=True, max_length=254)
    salesforce_user_id = SalesforceIdField(required=False)

    class Meta:
        model = Rep
        fields = [f for f in REP_FIELDS if f not in ("id", "created_at", "updated_at")]

    def validate_email(self, value: str) -> str:
        return value.strip().lower()

    def validate(self, attrs):
        if not attrs.get("external_id") and not attrs.get("email"):
            raise serializers.ValidationError(
                {"external_id": _("Give an external_id or an email to match the rep by.")}
            )
        return attrs
