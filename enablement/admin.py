"""Admin of the method's models, on the tenant-owned admin base (tenant staff see theirs)."""

from __future__ import annotations

from django.contrib import admin

from enablement.models import (
    DealSignal,
    DealSignalView,
    Notification,
    NotificationPreference,
    PartnerSegment,
    RepSegment,
    SegmentationRun,
    SegmentationSettings,
    SignalRule,
)
from pse_crm.admin import TenantOwnedAdmin

# --- deal signals ----------------------------------------------------------------------


@admin.register(SignalRule)
class SignalRuleAdmin(TenantOwnedAdmin):
    list_display = ("kind", "is_enabled", "threshold", "window_hours", "expiry_days", "updated_at")
    list_filter = ("is_enabled", "kind")
    readonly_fields = ("updated_at",)


class DealSignalViewInline(admin.TabularInline):
    model = DealSignalView
    extra = 0
    fields = ("view", "kind")
    readonly_fields = ("view", "kind")
    can_delete = False


@admin.register(DealSignal)
class DealSignalAdmin(TenantOwnedAdmin):
    list_display = ("created_at", "rep", "partner", "kind", "status", "view_count", "has_open_deal")
    list_filter = ("status", "kind", "has_open_deal")
    search_fields = ("rep__name", "partner__name")
    date_hierarchy = "created_at"
    list_select_related = ("rep", "partner")
    raw_id_fields = ("rep", "partner", "support_task", "handled_by")
    readonly_fields = ("created_at",)
    inlines = [DealSignalViewInline]


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(TenantOwnedAdmin):
    list_display = ("user", "email", "on_duty")
    list_filter = ("email", "on_duty")
    search_fields = ("user__email",)
    raw_id_fields = ("user",)


@admin.register(Notification)
class NotificationAdmin(TenantOwnedAdmin):
    list_display = ("created_at", "user", "signal", "read_at", "emailed_at", "digested_at")
    list_filter = ("read_at", "emailed_at")
    search_fields = ("user__email",)
    raw_id_fields = ("user", "signal")
    readonly_fields = ("created_at",)


# --- segmentation ----------------------------------------------------------------------


@admin.register(SegmentationSettings)
class SegmentationSettingsAdmin(TenantOwnedAdmin):
    list_display = (
        "view_window_days",
        "results_window_days",
        "results_measure",
        "views_high_rule",
        "results_high_rule",
        "tier_measure",
        "min_reps_for_tiers",
        "updated_at",
    )
    readonly_fields = ("updated_at", "updated_by")


class _ReadOnlyAdmin(TenantOwnedAdmin):
    """Computed by the segmentation run: readable history, never edited by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SegmentationRun)
class SegmentationRunAdmin(_ReadOnlyAdmin):
    list_display = (
        "as_of",
        "trigger",
        "status",
        "is_current",
        "rep_count",
        "active_rep_count",
        "duration_ms",
        "correlation_rho",
    )
    list_filter = ("status", "trigger", "is_current")
    date_hierarchy = "as_of"


@admin.register(RepSegment)
class RepSegmentAdmin(_ReadOnlyAdmin):
    list_display = (
        "rep",
        "partner",
        "run",
        "quadrant",
        "tier",
        "views",
        "won_amount",
        "won_deals",
        "previous_quadrant",
    )
    list_filter = ("quadrant", "tier", "run__is_current")
    search_fields = ("rep__name", "partner__name")
    list_select_related = ("rep", "partner", "run")
    raw_id_fields = ("rep", "partner", "run")


@admin.register(PartnerSegment)
class PartnerSegmentAdmin(_ReadOnlyAdmin):
    list_display = (
        "partner",
        "run",
        "reps",
        "active_reps",
        "activation_rate",
        "performers",
        "motivated",
        "won_amount",
    )
    list_filter = ("run__is_current", "is_tiered")
    search_fields = ("partner__name",)
    list_select_related = ("partner", "run")
    raw_id_fields = ("partner", "run")
