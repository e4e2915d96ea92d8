"""API serializers of support tasks, their transitions and comments, and quick wins."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from activities.models import Deal
from pse_crm.api.fields import TenantMemberField, UserBriefSerializer
from reps.models import Rep
from support.models import QuickWin, SupportTask, SupportTaskComment, SupportTaskTransition


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
