"""API representations of partners."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from partners.models import Partner
from pse_crm.api.fields import SalesforceIdField

PARTNER_FIELDS = [
    "id",
    "name",
    "external_id",
    "partner_type",
    "program_tier",
    "competing_products",
    "status",
    "contract_start",
    "notes",
    "email_domains",
    "created_at",
    "updated_at",
]


class PartnerSerializer(serializers.ModelSerializer):
    external_id = SalesforceIdField(
        required=False, help_text=_("Salesforce Account Id (15 characters are stored as 18).")
    )
    email_domains = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text=_("Email domains of its reps.")
    )

    class Meta:
        model = Partner
        fields = PARTNER_FIELDS
        read_only_fields = ["id", "created_at", "updated_at"]

    def validate_external_id(self, value: str) -> str:
        if value:
            clash = Partner.objects.filter(external_id=value)
            if self.instance is not None:
                clash = clash.exclude(pk=self.instance.pk)
            if clash.exists():
                raise serializers.ValidationError(
                    _("A partner with this Salesforce Account Id already exists.")
                )
        return value


class PartnerBulkRecordSerializer(serializers.ModelSerializer):
    """One record of ``POST partners/bulk``: matched by ``external_id``; omitted fields keep
    their stored value (or the default, for a new partner)."""

    external_id = SalesforceIdField(
        allow_blank=False, help_text=_("Salesforce Account Id: the key of the upsert.")
    )

    class Meta:
        model = Partner
        fields = [
            f
            for f in PARTNER_FIELDS
            if f not in ("id", "email_domains", "created_at", "updated_at")
        ]
