"""CSV import and export of reps in the admin (django-import-export), tenant-scoped.

A rep row names its partner by Salesforce Account Id or by name; with no partner column,
the partner whose email domain matches the rep's email is used. Partners are looked up
among the importing tenant's partners only.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from import_export import fields, widgets

from partners.models import Partner, PartnerDomain
from partners.resources import SalesforceIdWidget, TenantScopedResource, _sf_account_id
from reps.models import Rep


class TenantPartnerWidget(widgets.ForeignKeyWidget):
    """A partner of the resource's tenant, by Account Id, by name, or by the email domain."""

    def __init__(self, resource: TenantScopedResource):
        super().__init__(Partner, field="external_id")
        self.resource = resource

    def get_queryset(self, value, row, *args, **kwargs):
        return Partner.objects.filter(tenant_id=self.resource.tenant.pk)

    def clean(self, value, row=None, **kwargs):
        value = (str(value) if value is not None else "").strip()
        partners = self.get_queryset(value, row)
        partner = None
        if value:
            try:
                partner = partners.filter(external_id=_sf_account_id(value)).first()
            except ValueError:
                partner = None
            if partner is None:
                partner = partners.filter(name=value).order_by("pk").first()
            if partner is None:
                raise ValueError(_("Unknown partner: %(value)s") % {"value": value})
            return partner
        email = ((row or {}).get("email") or "").strip().lower()
        domain = email.rpartition("@")[2]
        if domain:
            found = (
                PartnerDomain.objects.filter(tenant_id=self.resource.tenant.pk, domain=domain)
                .select_related("partner")
                .first()
            )
            if found is not None:
                return found.partner
        raise ValueError(_("Name the partner, or use an email on a partner's domain."))

    def render(self, value, obj=None, **kwargs):
        if value is None:
            return ""
        return value.external_id or value.name


class RepResource(TenantScopedResource):
    """Reps by email (else content platform id, else Salesforce user id)."""

    partner = fields.Field(attribute="partner", column_name="partner")
    salesforce_user_id = fields.Field(
        attribute="salesforce_user_id",
        column_name="salesforce_user_id",
        widget=SalesforceIdWidget(),
    )

    class Meta:
        model = Rep
        fields = (
            "name",
            "email",
            "partner",
            "external_id",
            "salesforce_user_id",
            "title",
            "hire_type",
            "started_at_partner",
            "influence",
            "is_employed",
            "notes",
        )
        export_order = fields
        clean_model_instances = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.fields["partner"].widget = TenantPartnerWidget(self)

    def get_instance(self, instance_loader, row):
        reps = self.get_queryset()
        email = (row.get("email") or "").strip().lower()
        if email:
            return reps.filter(email=email).first()
        external_id = (row.get("external_id") or "").strip()
        if external_id:
            return reps.filter(external_id=external_id).first()
        sf_user = _sf_account_id(row.get("salesforce_user_id") or "")
        return reps.filter(salesforce_user_id=sf_user).first() if sf_user else None

    def before_import_row(self, row, **kwargs):
        if "partner" not in row:
            row["partner"] = ""  # resolve by the email's domain
        super().before_import_row(row, **kwargs)
