"""``manage.py salesforce_pull --tenant S [--full]``: pull the tenant's Opportunities now.

Incremental from the watermark by default; ``--full`` reads every Opportunity. Exits 1
when the run fails (its error is printed); a pull already running for the tenant makes
this one exit at once, saying so, with nothing done.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from activities.models import SalesforcePullRun
from activities.services.salesforce import (
    SalesforceNotConnected,
    SalesforcePullInProgress,
    salesforce_pull,
)
from pse_crm.management.tenants import tenant_from_slug
from pse_crm.tenancy import tenant_scope


class Command(BaseCommand):
    help = "Pull a tenant's Opportunities from its connected Salesforce org."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="the tenant's slug")
        parser.add_argument("--full", action="store_true", help="every Opportunity")

    def handle(self, *args, **options):
        tenant = tenant_from_slug(options["tenant"])
        with tenant_scope(tenant):
            try:
                run = salesforce_pull(tenant=tenant, full=options["full"], trigger="command")
            except SalesforcePullInProgress as exc:
                self.stdout.write(f"{tenant.slug}: {exc}")
                return
            except SalesforceNotConnected as exc:
                raise CommandError(str(exc)) from None
        summary = (
            f"{tenant.slug}: {run.get_kind_display()} {run.get_status_display().lower()}: "
            f"{run.records:,} records in {run.pages:,} pages; watermark "
            f"{run.watermark_after.isoformat() if run.watermark_after else 'none'}"
        )
        if run.status != SalesforcePullRun.Status.SUCCEEDED:
            raise CommandError(f"{summary}. {run.error}")
        self.stdout.write(summary)
