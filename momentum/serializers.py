"""API serializers of the weekly momentum snapshots and indicators."""

from __future__ import annotations

from rest_framework import serializers

from momentum.models import MomentumSnapshot


class MomentumSnapshotSerializer(serializers.ModelSerializer):
    class Meta:
        model = MomentumSnapshot
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
