"""Admin of hearings, know-how and shares."""

from __future__ import annotations

from django.contrib import admin

from knowhow.models import Hearing, KnowHow, KnowHowEffect, KnowHowShare, KnowHowSource
from pse_crm.admin import ReadOnlyTenantAdmin, TenantOwnedAdmin


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


@admin.register(KnowHowEffect)
class KnowHowEffectAdmin(ReadOnlyTenantAdmin):
    """Derived rows, rewritten every night by ``know_how_effects_compute``."""

    list_display = ("know_how", "days", "status", "matched", "comparison_reps", "as_of_date")
    list_filter = ("status",)
    list_select_related = ("know_how",)
