"""Admin for partner reps; reps import from and export to CSV."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from partners.admin import SameTenantAdminMixin, TenantImportExportMixin
from pse_crm.admin import TenantOwnedAdmin
from reps.models import Rep
from reps.resources import RepResource


@admin.register(Rep)
class RepAdmin(TenantImportExportMixin, SameTenantAdminMixin, TenantOwnedAdmin):
    resource_classes = [RepResource]
    list_display = (
        "name",
        "email",
        "partner",
        "title",
        "hire_type",
        "influence",
        "is_employed",
        "external_id",
        "updated_at",
    )
    list_filter = (
        "is_employed",
        "hire_type",
        "influence",
        ("partner", admin.RelatedOnlyFieldListFilter),
    )
    search_fields = ("name", "email", "external_id", "salesforce_user_id", "partner__name")
    list_select_related = ("partner",)
    autocomplete_fields = ("partner",)
    readonly_fields = ("created_at", "updated_at")
    show_full_result_count = False
    fieldsets = (
        (None, {"fields": ("partner", "name", "email", "title")}),
        (_("Ids"), {"fields": ("external_id", "salesforce_user_id")}),
        (
            _("Profile"),
            {"fields": ("hire_type", "started_at_partner", "influence", "is_employed", "notes")},
        ),
        (_("Audit"), {"fields": ("created_at", "updated_at")}),
    )
