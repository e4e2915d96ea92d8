"""API serializers of the weekly momentum snapshots and indicators."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from activities.selectors import deals_unconverted_won_by_week
from momentum.models import MomentumSnapshot
from segmentation.serializers import UnconvertedDealsMixin, UnconvertedListSerializer


class MomentumSnapshotSerializer(UnconvertedDealsMixin, serializers.ModelSerializer):
    unconverted_deals = serializers.SerializerMethodField(
        help_text=_(
            "Won deals of the week left out of won_amount: their currency has no conversion "
            "rate to the corporate currency (counted now)."
        )
    )

    def unconverted_counts(self, *, tenant, items) -> dict:
        return deals_unconverted_won_by_week(tenant=tenant, mondays={s.week_start for s in items})

    def unconverted_key(self, obj: MomentumSnapshot):
        return (obj.partner_id, obj.week_start)

    class Meta:
        model = MomentumSnapshot
        list_serializer_class = UnconvertedListSerializer
        fields = [
            "partner",
            "week_start",
            "iso_year",
            "iso_week",
            "reps",
            "active_reps",
            "activation_rate",
            "keyman1",
            "keyman2",
            "views",
            "new_deals",
            "won_deals",
            "won_amount",
            "unconverted_deals",
            "tasks_done",
            "quick_wins",
            "know_how_shares",
            "computed_at",
        ]
        read_only_fields = fields


class MomentumIndicatorSerializer(serializers.Serializer):
    partner = serializers.IntegerField(allow_null=True)
    label = serializers.CharField()
    label_display = serializers.CharField()
    score = serializers.FloatField()
    active_trend = serializers.FloatField()
    win_trend = serializers.FloatField()
    weeks = serializers.IntegerField()
