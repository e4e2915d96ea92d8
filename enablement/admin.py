"""Admin of the method's models, on the tenant-owned admin base (tenant staff see theirs)."""

from __future__ import annotations

from django.contrib import admin

from enablement.models import (
    DealSignal,
    DealSignalView,
    Hearing,
    KnowHow,
    KnowHowShare,
    KnowHowSource,
    MomentumSnapshot,
    Notification,
    NotificationPreference,
    PartnerSegment,
    QuickWin,
    RepSegment,
    SegmentationRun,
    SegmentationSettings,
    SignalRule,
    SupportTask,
    SupportTaskComment,
    SupportTaskTransition,
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


# --- hearings, know-how, support tasks, quick wins, momentum ----------------------------
# Reps are protected (never deleted while they have history); tasks are cancelled, not
# deleted, so their status log and quick-win outcome stay.


@admin.register(Hearing)
class HearingAdmin(TenantOwnedAdmin):
    list_display = ("held_on", "rep", "held_by", "created_at")
    search_fields = ("rep__name", "finding_customers", "sales_approach", "notes")
    date_hierarchy = "held_on"
    list_select_related = ("rep", "held_by")
    raw_id_fields = ("rep", "held_by")
    readonly_fields = ("created_at", "updated_at")


class KnowHowSourceInline(admin.TabularInline):
    model = KnowHowSource
    extra = 0
    raw_id_fields = ("hearing",)
    fields = ("hearing",)


@admin.register(KnowHow)
class KnowHowAdmin(TenantOwnedAdmin):
    list_display = ("title", "created_by", "created_at")
    search_fields = ("title", "body")
    raw_id_fields = ("created_by",)
    readonly_fields = ("created_at", "updated_at")
    inlines = [KnowHowSourceInline]

    def save_formset(self, request, form, formset, change):
        for obj in formset.save(commit=False):
            obj.tenant_id = form.instance.tenant_id
            obj.save()
        for obj in formset.deleted_objects:
            obj.delete()


@admin.register(KnowHowShare)
class KnowHowShareAdmin(TenantOwnedAdmin):
    list_display = ("shared_on", "know_how", "partner", "rep", "shared_by")
    date_hierarchy = "shared_on"
    list_select_related = ("know_how", "partner", "rep", "shared_by")
    raw_id_fields = ("know_how", "partner", "rep", "shared_by")
    readonly_fields = ("created_at",)


class SupportTaskTransitionInline(admin.TabularInline):
    model = SupportTaskTransition
    extra = 0
    can_delete = False
    fields = ("changed_at", "from_status", "to_status", "changed_by")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class SupportTaskCommentInline(admin.TabularInline):
    model = SupportTaskComment
    extra = 0
    can_delete = False
    fields = ("created_at", "author", "body")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(SupportTask)
class SupportTaskAdmin(TenantOwnedAdmin):
    """Status moves go through the service (API / pages), so status and stamps are read-only
    here: the admin never writes a move without its log entry."""

    list_display = ("__str__", "rep", "kind", "assignee", "status", "due_on")
    list_filter = ("status", "kind")
    search_fields = ("rep__name", "title")
    list_select_related = ("rep", "assignee")
    raw_id_fields = ("rep", "deal", "assignee", "assigned_by")
    readonly_fields = (
        "status",
        "created_at",
        "updated_at",
        "started_at",
        "done_at",
        "cancelled_at",
    )
    inlines = [SupportTaskTransitionInline, SupportTaskCommentInline]

    def has_add_permission(self, request):
        # A task is created through the service, which checks the assignee and records it.
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(QuickWin)
class QuickWinAdmin(_ReadOnlyAdmin):
    list_display = ("task", "started_on", "outcome", "won_on", "days_to_win", "opened_on")
    list_filter = ("outcome",)
    raw_id_fields = ("task", "won_deal", "opened_deal")


@admin.register(MomentumSnapshot)
class MomentumSnapshotAdmin(_ReadOnlyAdmin):
    list_display = (
        "week_start",
        "partner",
        "reps",
        "active_reps",
        "activation_rate",
        "keyman1",
        "keyman2",
        "won_deals",
        "quick_wins",
    )
    list_filter = ("week_start",)
    list_select_related = ("partner",)
