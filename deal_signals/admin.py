"""Admin of deal-signal rules, signals and notifications."""

from __future__ import annotations

from django.contrib import admin

from deal_signals.models import (
    DealSignal,
    DealSignalView,
    Notification,
    NotificationPreference,
    SignalRule,
)
from pse_crm.admin import TenantOwnedAdmin


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
