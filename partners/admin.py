"""Admin for partners and their email domains; partners import from and export to CSV."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportMixin
from import_export.formats.base_formats import CSV

from partners.models import Partner, PartnerDomain, PartnerTotal
from partners.resources import PartnerResource, to_utf8
from pse_crm.admin import TenantOwnedAdmin
from pse_crm.models import TenantOwned


class SameTenantAdminMixin:
    """Keeps related rows in the row's own tenant.

    Tenant staff only ever see their tenant's choices (the scoped managers), but a
    superuser's admin lists every tenant: this refuses a related row from another tenant
    and gives inline rows their parent's tenant.
    """

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        admin_tenant = getattr(request, "tenant", None)

        def clean(self):
            cleaned = super(form, self).clean()
            tenant = cleaned.get("tenant") or (
                self.instance.tenant if self.instance.tenant_id else admin_tenant
            )
            if tenant is None:
                return cleaned
            for name, value in cleaned.items():
                if isinstance(value, TenantOwned) and value.tenant_id != tenant.pk:
                    self.add_error(name, ValidationError(_("Choose a row of the same tenant.")))
            return cleaned

        return type(form.__name__, (form,), {"clean": clean})

    def save_formset(self, request, form, formset, change):
        for inline_form in formset.forms:
            child = inline_form.instance
            if isinstance(child, TenantOwned) and child.tenant_id is None:
                child.tenant_id = form.instance.tenant_id
        super().save_formset(request, form, formset, change)


class _Utf8Upload:
    def __init__(self, data: bytes):
        self.data = data

    def chunks(self):
        yield self.data


class TenantImportExportMixin(ImportExportMixin):
    """CSV import into the admin request's tenant only; export of what the list shows."""

    import_formats = [CSV]
    export_formats = [CSV]
    from_encoding = "utf-8-sig"  # Excel's UTF-8 CSV starts with a BOM

    def write_to_tmp_storage(self, import_file, input_format):
        # Japanese Excel saves CSV as Shift_JIS: store every upload as UTF-8.
        data = b"".join(import_file.chunks())
        return super().write_to_tmp_storage(_Utf8Upload(to_utf8(data)), input_format)

    def get_import_resource_kwargs(self, request, **kwargs):
        return {**super().get_import_resource_kwargs(request, **kwargs), "tenant": request.tenant}

    def get_export_resource_kwargs(self, request, **kwargs):
        return {**super().get_export_resource_kwargs(request, **kwargs), "tenant": request.tenant}

    def has_import_permission(self, request):
        # A superuser imports into the tenant of their own membership, never a CSV's.
        return getattr(request, "tenant", None) is not None and self.has_add_permission(request)

    def has_export_permission(self, request):
        return self.has_view_permission(request)


class TenantInline(admin.TabularInline):
    """An inline allowed exactly when its parent's admin allows changing the parent."""

    def _parent_allows(self, request, obj=None) -> bool:
        parent = self.admin_site._registry[self.parent_model]
        return parent.has_change_permission(request, obj) or parent.has_add_permission(request)

    def has_view_permission(self, request, obj=None):
        return self._parent_allows(request, obj)

    def has_add_permission(self, request, obj=None):
        return self._parent_allows(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._parent_allows(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._parent_allows(request, obj)


class PartnerDomainInline(TenantInline):
    model = PartnerDomain
    extra = 1
    fields = ("domain",)


@admin.register(Partner)
class PartnerAdmin(TenantImportExportMixin, SameTenantAdminMixin, TenantOwnedAdmin):
    resource_classes = [PartnerResource]
    list_display = (
        "name",
        "external_id",
        "partner_type",
        "program_tier",
        "status",
        "competing_products",
        "rep_count",
        "domain_list",
        "updated_at",
    )
    list_filter = ("status", "partner_type", "program_tier")
    search_fields = ("name", "external_id", "domains__domain")
    readonly_fields = ("created_at", "updated_at")
    autocomplete_fields = ("owner",)
    inlines = [PartnerDomainInline]
    fieldsets = (
        (None, {"fields": ("name", "external_id", "partner_type", "program_tier", "status")}),
        (
            _("Relationship"),
            {"fields": ("owner", "competing_products", "contract_start", "notes")},
        ),
        (_("Audit"), {"fields": ("created_at", "updated_at")}),
    )

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(_rep_count=Count("reps", distinct=True))
            .prefetch_related("domains")
        )

    @admin.display(description=_("reps"), ordering="_rep_count")
    def rep_count(self, obj: Partner) -> int:
        return obj._rep_count

    @admin.display(description=_("email domains"))
    def domain_list(self, obj: Partner) -> str:
        return ", ".join(sorted(d.domain for d in obj.domains.all()))


@admin.register(PartnerDomain)
class PartnerDomainAdmin(SameTenantAdminMixin, TenantOwnedAdmin):
    list_display = ("domain", "partner")
    search_fields = ("domain", "partner__name")
    list_select_related = ("partner",)
    autocomplete_fields = ("partner",)


@admin.register(PartnerTotal)
class PartnerTotalAdmin(TenantOwnedAdmin):
    """Read and delete only: a total is written by ``web.services.partner_totals`` (the
    partner page, the CSV import, the API), which checks its period and its currency's
    rate; the admin, below the currencies' layer, could not."""

    list_display = (
        "partner",
        "granularity",
        "period_start",
        "period_end",
        "total_amount",
        "currency",
        "deal_count",
        "competing_products",
        "source",
        "updated_at",
    )
    list_filter = ("granularity", "source", "period_start")
    search_fields = ("partner__name", "note")
    list_select_related = ("partner",)
    readonly_fields = [f.name for f in PartnerTotal._meta.fields if f.name != "tenant"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
