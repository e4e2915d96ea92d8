"""Admin of support tasks and quick wins."""

from __future__ import annotations

from django.contrib import admin

from pse_crm.admin import ReadOnlyTenantAdmin, TenantOwnedAdmin
from support.models import QuickWin, SupportTask, SupportTaskComment, SupportTaskTransition


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
class QuickWinAdmin(ReadOnlyTenantAdmin):
    list_display = ("task", "started_on", "outcome", "won_on", "days_to_win", "opened_on")
    list_filter = ("outcome",)
    raw_id_fields = ("task", "won_deal", "opened_deal")
