from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from pse_crm.management.tenants import tenant_from_slug
from pse_crm.tenant_data import tenant_export


class Command(BaseCommand):
    help = (
        "Write all of a tenant's data (every tenant-owned row, the tenant, its members' "
        "user accounts and API keys) to a zip of JSON files with a manifest of counts."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--out", required=True, help="the zip file to write")

    def handle(self, *args, tenant: str, out: str, **options):
        tenant_obj = tenant_from_slug(tenant, include_inactive=True)
        path = Path(out)
        if not path.parent.is_dir():
            raise CommandError(f"No such directory: {path.parent}")
        counts = tenant_export(tenant=tenant_obj, out=path)
        for label, n in counts.items():
            if n:
                self.stdout.write(f"  {label}: {n}")
        self.stdout.write(
            self.style.SUCCESS(f"Exported {sum(counts.values())} rows of '{tenant}' to {path}.")
        )
