"""``manage.py salesforce_reconcile --tenant S``: soft-delete the stored deals that the
tenant's Salesforce org no longer has (the nightly reconciliation, now)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from activities.models import SalesforcePullRun
from activities.services.salesforce import (
    SalesforceNotConnected,
    SalesforcePullInProgress,
    salesforce_reconcile,
)
from pse_crm.management.tenants import tenant_from_slug
from pse_crm.tenancy import tenant_scope


class Command(BaseCommand):
    help = "Reconcile a tenant's deals with its Salesforce org (soft-delete purged ones)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="the tenant's slug")

    def handle(self, *args, **options):
        tenant = tenant_from_slug(options["tenant"])
        with tenant_scope(tenant):
            try:
                run = salesforce_reconcile(tenant=tenant, trigger="command")
            except SalesforcePullInProgress as exc:
                self.stdout.write(f"{tenant.slug}: {exc}")
                return
            except SalesforceNotConnected as exc:
                raise CommandError(str(exc)) from None
        summary = (
            f"{tenant.slug}: {run.records:,} Opportunity ids in Salesforce; "
            f"{run.soft_deleted:,} stored deals soft-deleted"
        )
        if run.status != SalesforcePullRun.Status.SUCCEEDED:
            raise CommandError(f"{summary}. {run.error}")
        self.stdout.write(summary)
