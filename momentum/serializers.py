"""API serializers of the weekly momentum snapshots and indicators."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from activities.selectors import deals_unconverted_won_by_week
from momentum.models import MomentumSnapshot


class _SnapshotListSerializer(serializers.ListSerializer):
    """Counts the unconverted won deals of every listed week in one query."""

    def to_representation(self, data):
        items = list(data.all() if hasattr(data, "all") else data)
        self.child.unconverted_prefetch(items)
        return super().to_representation(items)


class MomentumSnapshotSerializer(serializers.ModelSerializer):
    unconverted_deals = serializers.SerializerMethodField(
        help_text=_(
            "Won deals of the week left out of won_amount: their currency has no conversion "
            "rate to the corporate currency (counted now)."
        )
    )

    def unconverted_prefetch(self, items) -> None:
        if not items:
            self._unconverted = {}
            return
        tenant = getattr(self.context.get("request"), "tenant", None) or items[0].tenant
        self._unconverted = deals_unconverted_won_by_week(
            tenant=tenant, mondays={s.week_start for s in items}
        )

    def get_unconverted_deals(self, obj: MomentumSnapshot) -> int:
        if not hasattr(self, "_unconverted"):
            self.unconverted_prefetch([obj])
        return self._unconverted.get((obj.partner_id, obj.week_start), 0)

    class Meta:
        model = MomentumSnapshot
        list_serializer_class = _SnapshotListSerializer
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
        read_only_fields = [f for f in fields if f != "unconverted_deals"]


class MomentumIndicatorSerializer(serializers.Serializer):
    partner = serializers.IntegerField(allow_null=True)
    label = serializers.CharField()
    label_display = serializers.CharField()
    score = serializers.FloatField()
    active_trend = serializers.FloatField()
    win_trend = serializers.FloatField()
    weeks = serializers.IntegerField()
