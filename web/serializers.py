"""API representations of partner totals and share of wallet."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from partners.models import Partner, PartnerTotal
from partners.totals_csv import COLUMNS
from pse_crm.api.fields import TenantPrimaryKeyRelatedField


class PartnerTotalSerializer(serializers.ModelSerializer):
    class Meta:
        model = PartnerTotal
        # A record's fields are the CSV's columns (one list: ``partners.totals_csv``).
        fields = ["id", *COLUMNS[:3], "granularity", *COLUMNS[3:], "updated_at"]
        read_only_fields = fields


class PartnerTotalRecordSerializer(serializers.Serializer):
    """One record of ``POST partner-totals/``: replaces the partner's total of that period."""

    partner = TenantPrimaryKeyRelatedField(model=Partner, help_text=_("Partner id."))
    period_start = serializers.DateField(help_text=_("First day of a calendar month or quarter."))
    period_end = serializers.DateField(help_text=_("Last day of the same month or quarter."))
    total_amount = serializers.DecimalField(
        max_digits=18,
        decimal_places=2,
        min_value=0,
        required=False,
        allow_null=True,
        help_text=_("The partner's total sales in our category in the period."),
    )
    currency = serializers.RegexField(
        r"^[A-Za-z]{3}$",
        required=False,
        allow_blank=True,
        help_text=_("ISO code of total_amount (default: the corporate currency); needs a rate."),
    )
    deal_count = serializers.IntegerField(
        min_value=0, max_value=2_147_483_647, required=False, allow_null=True
    )
    competing_products = serializers.IntegerField(
        min_value=0, max_value=32767, required=False, allow_null=True
    )
    competing_product_names = serializers.ListField(
        child=serializers.CharField(max_length=200), max_length=50, required=False
    )
    source = serializers.ChoiceField(
        choices=PartnerTotal.Source.choices, required=False, default=PartnerTotal.Source.REPORTED
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=4000)


class ShareOfWalletSerializer(serializers.Serializer):
    partner = serializers.IntegerField(source="partner_id")
    partner_name = serializers.CharField()
    granularity = serializers.CharField()
    period_start = serializers.DateField()
    period_end = serializers.DateField()
    our_amount = serializers.DecimalField(
        max_digits=20, decimal_places=2, help_text=_("Won in the period (corporate currency).")
    )
    our_deals = serializers.IntegerField()
    unconverted_deals = serializers.IntegerField(
        help_text=_("Won deals left out of our_amount: their currency has no rate.")
    )
    partner_total = serializers.DecimalField(
        max_digits=20,
        decimal_places=2,
        allow_null=True,
        help_text=_("The partner's total in the corporate currency (rate of the period end)."),
    )
    total_amount = serializers.DecimalField(max_digits=18, decimal_places=2, allow_null=True)
    currency = serializers.CharField()
    total_unconverted = serializers.BooleanField(
        help_text=_("The total's currency has no rate: no share.")
    )
    partner_deal_count = serializers.IntegerField(allow_null=True)
    share = serializers.FloatField(
        allow_null=True,
        help_text=_("our_amount ÷ partner_total, 0–1; null without a total or when inconsistent."),
    )
    deal_share = serializers.FloatField(allow_null=True)
    inconsistent = serializers.BooleanField(
        help_text=_("Our wins exceed the partner's reported total: check the total.")
    )
    source = serializers.CharField(allow_null=True)
    competing_products = serializers.IntegerField(allow_null=True)
    competing_product_names = serializers.ListField(child=serializers.CharField())
    in_progress = serializers.BooleanField(help_text=_("The period has not ended yet."))
