"""Admin of the segmentation: settings (editable), runs and segments (read-only)."""

from __future__ import annotations

from django.contrib import admin

from pse_crm.admin import ReadOnlyTenantAdmin, TenantOwnedAdmin
from segmentation.models import PartnerSegment, RepSegment, SegmentationRun, SegmentationSettings


@admin.register(SegmentationSettings)
class SegmentationSettingsAdmin(TenantOwnedAdmin):
    list_display = (
        "view_window_days",
        "results_window_days",
        "results_measure",
        "views_high_rule",
        "views_floor",
        "results_high_rule",
        "results_median_min_reps",
        "tier_measure",
        "min_reps_for_tiers",
        "updated_at",
    )
    readonly_fields = ("updated_at", "updated_by")


@admin.register(SegmentationRun)
class SegmentationRunAdmin(ReadOnlyTenantAdmin):
    list_display = (
        "as_of",
        "trigger",
        "status",
        "is_current",
        "rep_count",
        "active_rep_count",
        "views_cutoff",
        "views_cutoff_rule",
        "results_cutoff_rule",
        "partners_without_performer",
        "duration_ms",
        "correlation_rho",
    )
    list_filter = ("status", "trigger", "is_current")
    date_hierarchy = "as_of"


@admin.register(RepSegment)
class RepSegmentAdmin(ReadOnlyTenantAdmin):
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
class PartnerSegmentAdmin(ReadOnlyTenantAdmin):
    list_display = (
        "partner",
        "run",
        "reps",
        "active_reps",
        "activation_rate",
        "performers",
        "motivated",
        "casual",
        "needs_first_performer",
        "days_to_first_performer",
        "won_amount",
    )
    list_filter = ("run__is_current", "is_tiered", "needs_first_performer")
    search_fields = ("partner__name",)
    list_select_related = ("partner", "run")
    raw_id_fields = ("partner", "run")
