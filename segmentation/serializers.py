"""Serializers of the keyman segmentation: runs, rep and partner segments, settings.

Statistics are always shown with their sample size, p-value, 95% interval and the words
"correlation, not causation".
"""

from __future__ import annotations

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from activities.selectors import deals_unconverted_counts
from segmentation.cutoffs import cutoff_lines
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


class UnconvertedListSerializer(serializers.ListSerializer):
    """Counts the unconverted deals of every listed row in one query (the child's
    ``unconverted_prefetch``)."""

    def to_representation(self, data):
        items = list(data.all() if hasattr(data, "all") else data)
        self.child.unconverted_prefetch(items)
        return super().to_representation(items)


class UnconvertedDealsMixin(serializers.Serializer):
    """A row's ``unconverted_deals`` (a ``SerializerMethodField`` the subclass declares):
    ``unconverted_counts`` counts them for every listed row in one query (with
    ``list_serializer_class = UnconvertedListSerializer``; one row alone, one query too),
    and ``unconverted_key`` finds the row's count among them. By default the rows are
    reps or partners (``unconverted_by``); a serializer of other rows (the momentum's
    weeks) overrides both."""

    unconverted_by = "rep"

    def unconverted_key(self, obj) -> int | None:
        return obj.rep_id if self.unconverted_by == "rep" else obj.partner_id

    def unconverted_counts(self, *, tenant, items) -> dict:
        return deals_unconverted_counts(
            tenant=tenant, by=self.unconverted_by, ids={self.unconverted_key(obj) for obj in items}
        )

    def unconverted_prefetch(self, items) -> None:
        if not items:
            self._unconverted = {}
            return
        tenant = getattr(self.context.get("request"), "tenant", None) or items[0].tenant
        self._unconverted = self.unconverted_counts(tenant=tenant, items=items)

    def get_unconverted_deals(self, obj) -> int:
        if not hasattr(self, "_unconverted"):
            self.unconverted_prefetch([obj])
        return self._unconverted.get(self.unconverted_key(obj), 0)


class _UnconvertedMixin(UnconvertedDealsMixin):
    """``unconverted_deals``: won or open deals with an amount in a currency that has no
    rate, left out of the amounts next to it (counted now, not as of the run)."""

    unconverted_deals = serializers.SerializerMethodField(
        help_text=_(
            "Won or open deals left out of the amounts: their currency has no conversion "
            "rate to the corporate currency (counted now)."
        )
    )


class RepSegmentSerializer(_UnconvertedMixin, serializers.ModelSerializer):
    rep_name = serializers.CharField(source="rep.name", read_only=True)
    partner_name = serializers.CharField(source="partner.name", read_only=True)
    quadrant_label = serializers.CharField(source="get_quadrant_display", read_only=True)
    tier_label = serializers.SerializerMethodField()
    moved = serializers.BooleanField(read_only=True)

    class Meta:
        model = RepSegment
        list_serializer_class = UnconvertedListSerializer
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
            "unconverted_deals",
            "created_deals",
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


class TierSharesSerializer(serializers.Serializer):
    top = serializers.FloatField()
    middle = serializers.FloatField()
    bottom = serializers.FloatField()


class PartnerSegmentSerializer(_UnconvertedMixin, _CorrelationMixin, serializers.ModelSerializer):
    unconverted_by = "partner"
    partner_name = serializers.CharField(source="partner.name", read_only=True)
    tier_shares = serializers.SerializerMethodField(
        help_text=_("Each tier's actual share of the partner's tiered reps (ties share a tier).")
    )
    first_performer_candidates = serializers.ListField(
        child=serializers.IntegerField(),
        read_only=True,
        help_text=_(
            "Rep ids, most motivated first (at most five): candidates for intensive support"
            " while the partner has no keyman ①. POST them to support-tasks/bulk/."
        ),
    )

    class Meta:
        model = PartnerSegment
        list_serializer_class = UnconvertedListSerializer
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
            "casual",
            "dormant",
            "views",
            "won_amount",
            "won_deals",
            "unconverted_deals",
            "is_tiered",
            "top_reps",
            "middle_reps",
            "bottom_reps",
            "tier_shares",
            "needs_first_performer",
            "first_performer_candidates",
            "first_flagged_on",
            "first_performer_on",
            "days_to_first_performer",
            "correlation",
        ]
        read_only_fields = fields

    @extend_schema_field(TierSharesSerializer(allow_null=True))
    def get_tier_shares(self, obj: PartnerSegment) -> dict | None:
        if not obj.is_tiered:
            return None
        return {tier: obj.tier_share(tier) for tier in ("top", "middle", "bottom")}


class SegmentationRunSerializer(_CorrelationMixin, serializers.ModelSerializer):
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    cutoffs = serializers.SerializerMethodField(
        help_text=_("Each cut-off in words: its value, the rule that chose it and the n behind it.")
    )

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
            "views_cutoff_rule",
            "views_cutoff_n",
            "views_median",
            "results_cutoff",
            "results_cutoff_rule",
            "results_cutoff_n",
            "results_median",
            "cutoffs",
            "partners_without_performer",
            "first_performer_median_days",
            "first_performer_partners",
            "correlation",
            "error",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_cutoffs(self, obj: SegmentationRun) -> list[str]:
        return cutoff_lines(obj)


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
        return PartnerSegmentSerializer(segments, many=True, context=self.context).data


class SegmentationRunRequestSerializer(serializers.Serializer):
    as_of = serializers.DateTimeField(
        required=False, help_text=_("Compute as of this moment (default: now).")
    )


class SegmentationSettingsSerializer(serializers.ModelSerializer):
    class Meta:
        model = SegmentationSettings
        fields = [*SegmentationSettings.EDITABLE_FIELDS, "updated_at"]
        read_only_fields = ["updated_at"]


class SegmentationRunInProgressSerializer(serializers.Serializer):
    """409: a run of this tenant is pending or running; it is the one to follow."""

    detail = serializers.CharField()
    run = SegmentationRunSerializer()
