"""Serializers of the keyman segmentation: runs, rep and partner segments, settings.

Statistics are always shown with their sample size, p-value, 95% interval and the words
"correlation, not causation".
"""

from __future__ import annotations

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from segmentation.models import PartnerSegment, RepSegment, SegmentationRun, SegmentationSettings


class CorrelationSerializer(serializers.Serializer):
    """Spearman's rank correlation of views and results. Correlation, not causation."""

    n = serializers.IntegerField(allow_null=True)
    rho = serializers.FloatField(allow_null=True, help_text=_("Spearman's ρ"))
    p_value = serializers.FloatField(allow_null=True)
    ci95_low = serializers.FloatField(allow_null=True)
    ci95_high = serializers.FloatField(allow_null=True)
    note = serializers.CharField()


def correlation_of(obj: SegmentationRun | PartnerSegment) -> dict:
    return {
        "n": obj.correlation_n,
        "rho": obj.correlation_rho,
        "p_value": obj.correlation_p_value,
        "ci95_low": obj.correlation_ci_low,
        "ci95_high": obj.correlation_ci_high,
        "note": gettext("Correlation, not causation."),
    }


class _CorrelationMixin(serializers.Serializer):
    correlation = serializers.SerializerMethodField()

    @extend_schema_field(CorrelationSerializer)
    def get_correlation(self, obj) -> dict:
        return correlation_of(obj)


class RepSegmentSerializer(serializers.ModelSerializer):
    rep_name = serializers.CharField(source="rep.name", read_only=True)
    partner_name = serializers.CharField(source="partner.name", read_only=True)
    quadrant_label = serializers.CharField(source="get_quadrant_display", read_only=True)
    tier_label = serializers.SerializerMethodField()
    moved = serializers.BooleanField(read_only=True)

    class Meta:
        model = RepSegment
        fields = [
            "id",
            "run",
            "rep",
            "rep_name",
            "partner",
            "partner_name",
            "views",
            "distinct_materials",
            "last_viewed_at",
            "won_amount",
            "won_deals",
            "open_pipeline_amount",
            "open_deals",
            "is_active",
            "quadrant",
            "quadrant_label",
            "tier",
            "tier_label",
            "score",
            "previous_quadrant",
            "previous_tier",
            "moved",
        ]
        read_only_fields = fields

    def get_tier_label(self, obj: RepSegment) -> str:
        if obj.tier is None:
            return gettext("No tier (partner too small)")
        return obj.get_tier_display()


class PartnerSegmentSerializer(_CorrelationMixin, serializers.ModelSerializer):
    partner_name = serializers.CharField(source="partner.name", read_only=True)

    class Meta:
        model = PartnerSegment
        fields = [
            "id",
            "run",
            "partner",
            "partner_name",
            "reps",
            "active_reps",
            "activation_rate",
            "performers",
            "motivated",
            "independents",
            "dormant",
            "views",
            "won_amount",
            "won_deals",
            "is_tiered",
            "top_reps",
            "middle_reps",
            "bottom_reps",
            "correlation",
        ]
        read_only_fields = fields


class SegmentationRunSerializer(_CorrelationMixin, serializers.ModelSerializer):
    status_label = serializers.CharField(source="get_status_display", read_only=True)

    class Meta:
        model = SegmentationRun
        fields = [
            "id",
            "as_of",
            "as_of_date",
            "trigger",
            "status",
            "status_label",
            "is_current",
            "created_at",
            "started_at",
            "finished_at",
            "duration_ms",
            "settings_used",
            "rep_count",
            "active_rep_count",
            "quadrant_counts",
            "tier_counts",
            "views_cutoff",
            "results_cutoff",
            "correlation",
            "error",
        ]
        read_only_fields = fields


class SegmentationRunDetailSerializer(SegmentationRunSerializer):
    """A run with the statistics of each partner large enough to have them."""

    partner_statistics = serializers.SerializerMethodField()

    class Meta(SegmentationRunSerializer.Meta):
        fields = [*SegmentationRunSerializer.Meta.fields, "partner_statistics"]
        read_only_fields = fields

    @extend_schema_field(PartnerSegmentSerializer(many=True))
    def get_partner_statistics(self, obj: SegmentationRun) -> list[dict]:
        segments = (
            PartnerSegment.objects.filter(
                tenant_id=obj.tenant_id, run=obj, correlation_n__isnull=False
            )
            .select_related("partner")
            .order_by("partner__name")
        )
        return PartnerSegmentSerializer(segments, many=True).data


class SegmentationRunRequestSerializer(serializers.Serializer):
    as_of = serializers.DateTimeField(
        required=False, help_text=_("Compute as of this moment (default: now).")
    )


class SegmentationSettingsSerializer(serializers.ModelSerializer):
    class Meta:
        model = SegmentationSettings
        fields = [*SegmentationSettings.EDITABLE_FIELDS, "updated_at"]
        read_only_fields = ["updated_at"]
