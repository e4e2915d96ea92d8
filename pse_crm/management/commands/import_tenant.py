import zipfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from pse_crm.tenant_data import TenantDataError, tenant_import


class Command(BaseCommand):
    help = (
        "Restore a tenant written by export_tenant. All or nothing: the tenant must not "
        "exist and the rows' ids must be free (an empty, migrated database)."
    )

    def add_arguments(self, parser):
        parser.add_argument("source", help="the zip written by export_tenant")

    def handle(self, *args, source: str, **options):
        path = Path(source)
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        try:
            result = tenant_import(source=path)
        except (TenantDataError, zipfile.BadZipFile) as exc:
            raise CommandError(str(exc)) from None
        except DatabaseError as exc:
            raise CommandError(
                f"Nothing was imported: the database refused a row ({exc}). Import into an "
                "empty database."
            ) from None
        for label, n in result.counts.items():
            if n:
                self.stdout.write(f"  {label}: {n}")
        if result.users_reused:
            self.stdout.write(f"  ({result.users_reused} members linked to existing users)")
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported tenant '{result.tenant.slug}': {sum(result.counts.values())} rows."
            )
        )
