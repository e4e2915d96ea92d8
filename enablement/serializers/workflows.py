"""Serializers of hearings, know-how, support tasks, quick wins and momentum.

Related ids resolve through tenant-scoped querysets (evaluated inside the request), so
another tenant's id fails like an id that does not exist: a clear 400, nothing written.
Writes go through the services; these classes only shape and parse.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from activities.models import Deal
from enablement.models import (
    Hearing,
    KnowHow,
    KnowHowShare,
    MomentumSnapshot,
    Quadrant,
    QuickWin,
    SupportTask,
    SupportTaskComment,
    SupportTaskTransition,
)
from partners.models import Partner
from pse_crm.tenancy import current_tenant
from reps.models import Rep

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


class QuickWinSerializer(serializers.ModelSerializer):
    is_quick_win = serializers.BooleanField(read_only=True)

    class Meta:
        model = QuickWin
        fields = [
            "task",
            "started_on",
            "window_days",
            "outcome",
            "is_quick_win",
            "won_deal",
            "won_on",
            "days_to_win",
            "opened_deal",
            "opened_on",
            "achieved_on",
            "computed_at",
        ]
        read_only_fields = fields


class SupportTaskSerializer(serializers.ModelSerializer):
    rep = serializers.PrimaryKeyRelatedField(queryset=Rep.objects)
    rep_name = serializers.CharField(source="rep.name", read_only=True)
    partner = serializers.IntegerField(source="rep.partner_id", read_only=True)
    deal = serializers.PrimaryKeyRelatedField(
        queryset=Deal.objects, required=False, allow_null=True
    )
    assignee = TenantMemberField()
    assigned_by = UserBriefSerializer(read_only=True)
    quick_win = serializers.SerializerMethodField()

    class Meta:
        model = SupportTask
        fields = [
            "id",
            "rep",
            "rep_name",
            "partner",
            "deal",
            "kind",
            "title",
            "description",
            "assignee",
            "assigned_by",
            "due_on",
            "status",
            "outcome_notes",
            "created_at",
            "updated_at",
            "started_at",
            "done_at",
            "cancelled_at",
            "quick_win",
        ]
        read_only_fields = [
            "status",
            "created_at",
            "updated_at",
            "started_at",
            "done_at",
            "cancelled_at",
        ]

    @extend_schema_field(QuickWinSerializer(allow_null=True))
    def get_quick_win(self, task: SupportTask) -> dict | None:
        quick_win = getattr(task, "quick_win", None)
        return QuickWinSerializer(quick_win).data if quick_win is not None else None


class SupportTaskBulkCreateSerializer(serializers.Serializer):
    reps = serializers.PrimaryKeyRelatedField(
        queryset=Rep.objects, many=True, allow_empty=False, help_text=_("One task per rep.")
    )
    kind = serializers.ChoiceField(choices=SupportTask.Kind.choices)
    assignee = TenantMemberField()
    due_on = serializers.DateField()
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    description = serializers.CharField(required=False, allow_blank=True, default="")

    def validate_reps(self, reps):
        if len(reps) > 500:
            raise serializers.ValidationError(_("At most 500 reps at once."))
        return reps


class SupportTaskTransitionSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=SupportTask.Status.choices)
    outcome_notes = serializers.CharField(required=False, allow_blank=True)


class SupportTaskTransitionLogSerializer(serializers.ModelSerializer):
    changed_by = UserBriefSerializer(read_only=True)

    class Meta:
        model = SupportTaskTransition
        fields = ["from_status", "to_status", "changed_by", "changed_at"]
        read_only_fields = fields


class SupportTaskCommentSerializer(serializers.ModelSerializer):
    author = UserBriefSerializer(read_only=True)

    class Meta:
        model = SupportTaskComment
        fields = ["id", "author", "body", "created_at"]
        read_only_fields = ["id", "author", "created_at"]


class SuggestionSerializer(serializers.Serializer):
    rep = serializers.IntegerField(source="rep_id")
    rep_name = serializers.CharField(source="rep.name")
    partner = serializers.IntegerField(source="partner_id")
    partner_name = serializers.CharField(source="partner.name")
    quadrant = serializers.CharField()
    previous_quadrant = serializers.CharField(allow_null=True)
    moved = serializers.BooleanField()
    views = serializers.IntegerField()
    score = serializers.FloatField()


class QuickWinRateSerializer(serializers.Serializer):
    key = serializers.CharField(allow_null=True)
    label = serializers.CharField(allow_null=True)
    started = serializers.IntegerField()
    decided = serializers.IntegerField()
    quick_wins = serializers.IntegerField()
    wins = serializers.IntegerField()
    pending = serializers.IntegerField()
    rate = serializers.FloatField(allow_null=True)
    avg_days_to_win = serializers.FloatField(allow_null=True)


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
