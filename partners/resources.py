"""CSV import and export of partners in the admin (django-import-export), tenant-scoped.

Every imported row gets the tenant of the admin request; no column can name a tenant or a
row id, and rows are matched only among the tenant's own partners.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from import_export import fields, resources, widgets

from partners.models import Partner, PartnerDomain
from pse_crm.exports import spreadsheet_safe
from pse_crm.models import Tenant
from pse_crm.sfid import InvalidSalesforceId, to_18


def to_utf8(data: bytes) -> bytes:
    """CSV bytes as UTF-8: UTF-8 (with or without BOM) is kept, Shift_JIS (cp932) is
    converted; anything else is passed on for the importer to report."""
    try:
        data.decode("utf-8")
        return data
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp932").encode("utf-8")
    except UnicodeDecodeError:
        return data


# Widgets whose rendered value is a number, a date or a flag, never free text.
_NOT_TEXT_WIDGETS = (
    widgets.NumberWidget,
    widgets.BooleanWidget,
    widgets.DateWidget,
    widgets.DateTimeWidget,
    widgets.TimeWidget,
    widgets.DurationWidget,
)


class TenantScopedResource(resources.ModelResource):
    """A resource bound to one tenant: reads, matches and writes that tenant's rows only."""

    def __init__(self, *, tenant: Tenant | None = None, **kwargs):
        super().__init__(**kwargs)
        self.tenant = tenant

    def get_queryset(self):
        if self.tenant is None:
            raise ValueError(_("Choose a tenant before importing."))
        return self._meta.model.objects.filter(tenant_id=self.tenant.pk)

    def init_instance(self, row=None):
        instance = super().init_instance(row)
        instance.tenant = self.tenant  # before validation, so tenant-wide uniqueness is checked
        return instance

    def import_data(self, dataset, *args, **kwargs):
        if self.tenant is None:
            raise ValueError(_("Choose a tenant before importing."))
        return super().import_data(dataset, *args, **kwargs)

    def before_save_instance(self, instance, row, **kwargs):
        # The request's tenant, always: a CSV never picks one.
        instance.tenant = self.tenant
        super().before_save_instance(instance, row, **kwargs)

    def export_field(self, field, instance, **kwargs):
        # Every export format (CSV, XLSX, ...) goes through here. The library's own switch,
        # IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT, only drops a leading "=" (and turns every
        # cell into text): a name is prefixed instead, a number or date is left alone even
        # when rendered as text ("-3" is a number here).
        value = super().export_field(field, instance, **kwargs)
        if isinstance(field.widget, _NOT_TEXT_WIDGETS):
            return value
        return spreadsheet_safe(value)


def _sf_account_id(value: str) -> str:
    value = (value or "").strip()
    if not value:
        return ""
    try:
        return to_18(value)
    except InvalidSalesforceId:
        raise ValueError(_("%(value)s is not a Salesforce id.") % {"value": value}) from None


class SalesforceIdWidget(widgets.CharWidget):
    """A 15- or 18-character Salesforce id, stored in its 18-character form."""

    def clean(self, value, row=None, **kwargs):
        return _sf_account_id(value)


class PartnerResource(TenantScopedResource):
    """Partners by Salesforce Account Id (else by name), with their email domains."""

    external_id = fields.Field(
        attribute="external_id", column_name="external_id", widget=SalesforceIdWidget()
    )
    # Space-separated; added to the partner's domains (an import never removes one).
    email_domains = fields.Field(column_name="email_domains")

    class Meta:
        model = Partner
        fields = (
            "name",
            "external_id",
            "partner_type",
            "program_tier",
            "competing_products",
            "status",
            "contract_start",
            "notes",
            "email_domains",
        )
        export_order = fields
        clean_model_instances = True

    def get_instance(self, instance_loader, row):
        external_id = _sf_account_id(row.get("external_id") or "")
        if external_id:
            return self.get_queryset().filter(external_id=external_id).first()
        name = (row.get("name") or "").strip()
        return self.get_queryset().filter(name=name).order_by("pk").first() if name else None

    def dehydrate_email_domains(self, partner: Partner) -> str:
        return " ".join(partner.email_domains)

    def after_save_instance(self, instance, row, **kwargs):
        # Also on a dry run: the preview runs in a rolled-back transaction and shows conflicts.
        super().after_save_instance(instance, row, **kwargs)
        raw = (row.get("email_domains") or "").replace(",", " ").split()
        wanted = {d.strip().lower().lstrip("@") for d in raw if d.strip()}
        have = set(instance.domains.values_list("domain", flat=True))
        taken = set(
            PartnerDomain.objects.filter(tenant_id=self.tenant.pk, domain__in=wanted - have)
            .exclude(partner=instance)
            .values_list("domain", flat=True)
        )
        if taken:
            raise ValueError(
                _("Email domain already belongs to another partner: %(domains)s")
                % {"domains": ", ".join(sorted(taken))}
            )
        for domain in sorted(wanted - have):
            PartnerDomain.objects.create(tenant=self.tenant, partner=instance, domain=domain)
