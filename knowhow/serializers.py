"""API serializers of hearings, know-how and its shares."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from knowhow.models import Hearing, KnowHow, KnowHowShare
from partners.models import Partner
from pse_crm.api.fields import LabelListField, UserBriefSerializer
from reps.models import Rep
from segmentation.models import Quadrant


class HearingSerializer(serializers.ModelSerializer):
    rep = serializers.PrimaryKeyRelatedField(queryset=Rep.objects)
    rep_name = serializers.CharField(source="rep.name", read_only=True)
    partner = serializers.IntegerField(source="rep.partner_id", read_only=True)
    held_by = UserBriefSerializer(read_only=True)
    tags = LabelListField()

    class Meta:
        model = Hearing
        fields = [
            "id",
            "rep",
            "rep_name",
            "partner",
            "held_by",
            "held_on",
            "finding_customers",
            "sales_approach",
            "materials_used",
            "objections",
            "notes",
            "tags",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]


class KnowHowSerializer(serializers.ModelSerializer):
    hearings = serializers.PrimaryKeyRelatedField(
        queryset=Hearing.objects, many=True, required=False
    )
    tags = LabelListField()
    products = LabelListField()
    source_quadrants = serializers.ListField(
        child=serializers.ChoiceField(choices=Quadrant.choices),
        required=False,
        help_text=_("Taken from the current segmentation of the hearings' reps when omitted."),
    )
    created_by = UserBriefSerializer(read_only=True)

    class Meta:
        model = KnowHow
        fields = [
            "id",
            "title",
            "body",
            "tags",
            "products",
            "source_quadrants",
            "hearings",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]


class KnowHowReachSerializer(serializers.Serializer):
    know_how = serializers.IntegerField()
    title = serializers.CharField()
    days = serializers.IntegerField()
    shares = serializers.IntegerField()
    reached = serializers.IntegerField()
    became_active = serializers.IntegerField()
    won = serializers.IntegerField()


class KnowHowShareSerializer(serializers.ModelSerializer):
    know_how = serializers.PrimaryKeyRelatedField(queryset=KnowHow.objects)
    partner = serializers.PrimaryKeyRelatedField(
        queryset=Partner.objects, required=False, allow_null=True
    )
    rep = serializers.PrimaryKeyRelatedField(queryset=Rep.objects, required=False, allow_null=True)
    shared_on = serializers.DateField(required=False)
    shared_by = UserBriefSerializer(read_only=True)

    class Meta:
        model = KnowHowShare
        fields = [
            "id",
            "know_how",
            "partner",
            "rep",
            "shared_on",
            "shared_by",
            "notes",
            "created_at",
        ]
        read_only_fields = ["created_at"]


class KnowHowEffectMetricSerializer(serializers.Serializer):
    """One outcome (activation or win rate): shares of reps 0–1 and their changes."""

    reached_before = serializers.FloatField(allow_null=True)
    reached_after = serializers.FloatField(allow_null=True)
    comparison_before = serializers.FloatField(allow_null=True)
    comparison_after = serializers.FloatField(allow_null=True)
    naive = serializers.FloatField(
        allow_null=True, help_text=_("Reached reps after minus before, with no comparison.")
    )
    did = serializers.FloatField(
        allow_null=True,
        help_text=_("Difference in differences: the reached reps' change less the comparison's."),
    )
    ci_low = serializers.FloatField(
        allow_null=True, help_text=_("Lower end of the bootstrap interval (95 percent).")
    )
    ci_high = serializers.FloatField(
        allow_null=True, help_text=_("Upper end of the bootstrap interval (95 percent).")
    )


class KnowHowEffectSerializer(serializers.Serializer):
    """The effect of one know-how (``know_how`` null: of all know-how) against a comparison
    group; the figures are null unless ``status`` is ``measured``."""

    know_how = serializers.IntegerField(allow_null=True)
    days = serializers.IntegerField()
    status = serializers.CharField()
    message = serializers.CharField()
    as_of_date = serializers.DateField(allow_null=True)
    computed_at = serializers.DateTimeField(allow_null=True)
    reached = serializers.IntegerField()
    waiting = serializers.IntegerField()
    unmatched_segment = serializers.IntegerField()
    unmatched_comparison = serializers.IntegerField()
    matched = serializers.IntegerField()
    comparison_reps = serializers.IntegerField()
    min_matched = serializers.IntegerField()
    min_comparison = serializers.IntegerField()
    matching = serializers.CharField()
    activation = KnowHowEffectMetricSerializer(allow_null=True)
    win_rate = KnowHowEffectMetricSerializer(allow_null=True)
    caution = serializers.CharField()
