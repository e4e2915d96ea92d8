"""Admin for materials, material views and deals."""

from __future__ import annotations

from django.contrib import admin
from django.db import models
from django.utils.translation import gettext_lazy as _

from activities.models import (
    CurrencyRate,
    DatedCurrencyRate,
    Deal,
    Material,
    MaterialView,
    SyncSettings,
)
from activities.services.currencies import deal_amounts_convert
from partners.admin import SameTenantAdminMixin
from pse_crm import roles
from pse_crm.admin import TenantOwnedAdmin, admin_role_ok
from pse_crm.tenancy import current_tenant_or_none


@admin.register(Material)
class MaterialAdmin(SameTenantAdminMixin, TenantOwnedAdmin):
    list_display = ("title", "kind", "product", "external_id", "url", "updated_at")
    list_filter = ("kind", "product")
    search_fields = ("title", "external_id", "url", "product")
    readonly_fields = ("created_at", "updated_at")
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


@admin.register(MaterialView)
class MaterialViewAdmin(SameTenantAdminMixin, TenantOwnedAdmin):
    list_display = (
        "viewed_at",
        "rep",
        "rep_partner",
        "material",
        "duration_seconds",
        "source",
        "event_id",
    )
    # No filter on free-text columns: listing their distinct values scans millions of rows.
    list_filter = (("viewed_at", admin.DateFieldListFilter), "material__kind")
    search_fields = ("event_id", "rep__email", "rep__name", "material__title")
    list_select_related = ("rep__partner", "material")
    autocomplete_fields = ("rep", "material")
    readonly_fields = ("ingested_at",)
    # Millions of rows: no exact total on every page.
    show_full_result_count = False

    @admin.display(description=_("partner"), ordering="rep__partner__name")
    def rep_partner(self, obj: MaterialView):
        return obj.rep.partner


@admin.register(Deal)
class DealAdmin(SameTenantAdminMixin, TenantOwnedAdmin):
    list_display = (
        "sf_id",
        "name",
        "partner",
        "rep",
        "stage",
        "amount",
        "currency",
        "amount_corporate",
        "is_won",
        "is_closed",
        "close_date",
        "system_modstamp",
    )
    list_filter = ("is_won", "is_closed", "is_deleted", "stage", "currency")
    search_fields = ("sf_id", "name", "rep__email", "rep__name", "partner__name")
    list_select_related = ("partner", "rep")
    autocomplete_fields = ("partner", "rep")
    # The corporate amount is derived (activities.services.currencies), never typed in.
    readonly_fields = ("created_at", "updated_at", "amount_corporate", "sf_converted_amount")
    show_full_result_count = False
    fieldsets = (
        (None, {"fields": ("sf_id", "name", "partner", "rep", "stage", "amount", "currency")}),
        (_("Corporate currency"), {"fields": ("amount_corporate", "sf_converted_amount")}),
        (_("Outcome"), {"fields": ("is_closed", "is_won", "close_date", "is_deleted")}),
        (
            _("Salesforce"),
            {
                "fields": (
                    "sf_created_at",
                    "sf_last_modified_at",
                    "system_modstamp",
                    "raw_partner_key",
                    "raw_rep_key",
                )
            },
        ),
        (_("Audit"), {"fields": ("created_at", "updated_at")}),
    )

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        # An amount or currency fixed by hand: its corporate amount by the one rule. A
        # superuser's admin has no tenant in scope; the deal's next sync converts it then.
        if current_tenant_or_none() is not None:
            deal_amounts_convert(tenant=obj.tenant, sf_ids=[obj.sf_id])


def _is_owner(request) -> bool:
    return admin_role_ok(request, roles.OWN)


@admin.register(SyncSettings)
class SyncSettingsAdmin(TenantOwnedAdmin):
    list_display = ("partner_field", "rep_field", "rep_match", "updated_at")
    list_filter = ("rep_match",)
    search_fields = ("partner_field", "rep_field")
    readonly_fields = ("updated_at",)

    # The Salesforce field mapping is an owner's setting, here as on the settings page.
    def has_module_permission(self, request):
        return _is_owner(request)

    def has_view_permission(self, request, obj=None):
        return _is_owner(request)

    def has_change_permission(self, request, obj=None):
        return _is_owner(request)

    def has_delete_permission(self, request, obj=None):
        return _is_owner(request)

    def has_add_permission(self, request):
        if not _is_owner(request):
            return False
        # One row a tenant: once it exists, it is changed, not added again.
        if not super().has_add_permission(request):
            return False
        if request.user.is_superuser:
            return True
        return not SyncSettings.objects.exists()


class _RateAdmin(TenantOwnedAdmin):
    """Rates come from the org (``POST /api/v1/currency-rates/``), which also reconverts
    the deals: the admin shows them and never edits them, so no deal keeps an amount
    converted with a rate that is no longer stored."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CurrencyRate)
class CurrencyRateAdmin(_RateAdmin):
    list_display = ("iso_code", "conversion_rate", "is_corporate", "is_active", "updated_at")
    list_filter = ("is_active", "is_corporate")
    search_fields = ("iso_code",)


@admin.register(DatedCurrencyRate)
class DatedCurrencyRateAdmin(_RateAdmin):
    list_display = ("iso_code", "conversion_rate", "start_date", "next_start_date", "updated_at")
    list_filter = ("iso_code",)
    search_fields = ("iso_code",)
    date_hierarchy = "start_date"
