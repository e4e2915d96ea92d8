"""``manage.py import_partner_totals FILE --tenant S``: load partner totals from CSV."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from pse_crm.management.tenants import tenant_from_slug
from pse_crm.tenancy import tenant_scope
from web.services.partner_totals import PartnerTotalsInvalid, partner_totals_import_csv


class Command(BaseCommand):
    help = (
        "Import partner totals from a CSV file (UTF-8 or Shift_JIS). Columns: partner (id, "
        "Salesforce Account Id or exact name), period_start, period_end (a whole calendar "
        "month or quarter), total_amount, currency, deal_count, competing_products, "
        "competing_product_names (separated by ;), source (reported or estimated), note. A "
        "file with any bad line writes nothing; a period imported again is replaced."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--tenant", required=True, help="tenant slug")

    def handle(self, *args, file: Path, tenant: str, **options):
        tenant_obj = tenant_from_slug(tenant)
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror or exc}") from None
        with tenant_scope(tenant_obj):
            try:
                result = partner_totals_import_csv(tenant=tenant_obj, data=data)
            except PartnerTotalsInvalid as exc:
                for error in exc.errors:
                    self.stderr.write(f"line {error.row}: {error}")  # "field: message"
                raise CommandError(
                    f"{file}: {len(exc.errors)} problem(s); nothing was written."
                ) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported partner totals into '{tenant}': {result.created} new, "
                f"{result.updated} replaced, {result.unchanged} unchanged."
            )
        )
