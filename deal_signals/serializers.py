"""Deal signals and their rules over the API. Writes go through the services."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from activities.models import Material
from deal_signals.models import DealSignal, SignalRule
from pse_crm.api.fields import TenantMemberField
from support.models import SupportTask

__all__ = [
    "DealSignalSerializer",
    "DealSignalUpdateSerializer",
    "SignalRuleSerializer",
]


class DealSignalSerializer(serializers.ModelSerializer):
    rep_name = serializers.CharField(source="rep.name", read_only=True)
    partner_name = serializers.CharField(source="partner.name", read_only=True)
    label = serializers.CharField(read_only=True)
    view_ids = serializers.SerializerMethodField()

    class Meta:
        model = DealSignal
        fields = [
            "id",
            "kind",
            "status",
            "label",
            "rep",
            "rep_name",
            "partner",
            "partner_name",
            "view_count",
            "view_ids",
            "first_viewed_at",
            "last_viewed_at",
            "has_open_deal",
            "created_at",
            "expires_at",
            "handled_at",
            "handled_by",
            "dismiss_reason",
            "support_task",
        ]
        read_only_fields = fields

    def get_view_ids(self, obj: DealSignal) -> list[int]:
        return sorted(v.pk for v in obj.views.all())


class DealSignalUpdateSerializer(serializers.Serializer):
    """``PATCH``: ``{"status": "dismissed", "dismiss_reason": …}`` or ``{"status": "acted"}``.

    Acting creates a support task for the rep with the viewed materials named; it may name
    the task's ``assignee`` (a member id), ``task_kind`` and ``due_on``.
    """

    status = serializers.ChoiceField(
        choices=[
            (DealSignal.Status.ACTED, DealSignal.Status.ACTED.label),
            (DealSignal.Status.DISMISSED, DealSignal.Status.DISMISSED.label),
        ]
    )
    dismiss_reason = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    assignee = TenantMemberField(required=False)
    task_kind = serializers.ChoiceField(
        choices=SupportTask.Kind.choices, required=False, default=SupportTask.Kind.MATERIALS
    )
    due_on = serializers.DateField(required=False)

    def validate(self, attrs):
        if (
            attrs["status"] == DealSignal.Status.DISMISSED
            and not (attrs.get("dismiss_reason") or "").strip()
        ):
            raise serializers.ValidationError(
                {"dismiss_reason": [_("Say why the signal is dismissed.")]}
            )
        return attrs


class SignalRuleSerializer(serializers.ModelSerializer):
    """A rule: ``threshold`` views within ``window_hours``; zero, negative or over 30 days: 400."""

    threshold = serializers.IntegerField(required=False)
    window_hours = serializers.IntegerField(required=False)
    expiry_days = serializers.IntegerField(required=False)
    material_kinds = serializers.ListField(
        child=serializers.ChoiceField(choices=Material.Kind.choices), required=False
    )
    outcomes = serializers.SerializerMethodField()

    class Meta:
        model = SignalRule
        fields = [
            "kind",
            "is_enabled",
            "threshold",
            "window_hours",
            "material_kinds",
            "expiry_days",
            "updated_at",
            "outcomes",
        ]
        read_only_fields = ["kind", "updated_at", "outcomes"]

    def get_outcomes(self, obj: SignalRule) -> dict:
        outcome = self.context.get("outcomes", {}).get(obj.kind)
        if outcome is None:
            return {}
        return {
            "signals": outcome.total,
            "caution": str(
                _("Correlation, not causation: deals have many causes besides a signal.")
            ),
            "windows": [
                {
                    "days": w.days,
                    "n": w.n,
                    "deals": w.deals,
                    "wins": w.wins,
                    "median_days_to_deal": w.median_days_to_deal,
                    "median_days_to_win": w.median_days_to_win,
                }
                for w in outcome.windows
            ],
        }
