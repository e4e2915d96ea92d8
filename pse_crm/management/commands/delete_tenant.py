from django.core.management.base import BaseCommand
from django.db import transaction

from pse_crm.management.tenants import tenant_from_slug
from pse_crm.tenancy import all_tenants
from pse_crm.tenant_data import delete_orphan_users, tenant_counts, tenant_delete


class Command(BaseCommand):
    help = (
        "Delete every row of one tenant, and the tenant; nothing of any other tenant. "
        "Members left without any tenant lose their account too (--keep-users to keep "
        "them). Without --yes, only shows what would be deleted."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--yes", action="store_true", help="really delete")
        parser.add_argument("--keep-users", action="store_true")

    def handle(self, *args, tenant: str, yes: bool, keep_users: bool, **options):
        tenant_obj = tenant_from_slug(tenant, include_inactive=True)
        if not yes:
            counts = tenant_counts(tenant_obj)
            for label, n in counts.items():
                if n:
                    self.stdout.write(f"  {label}: {n}")
            self.stdout.write(
                f"Would delete tenant '{tenant}' and {sum(counts.values())} rows. "
                "Run again with --yes to delete."
            )
            return
        with transaction.atomic():
            deleted, member_ids = tenant_delete(tenant=tenant_obj)
            users = 0
            if not keep_users:
                # Whether a member still belongs elsewhere is a cross-tenant question.
                with all_tenants():
                    users = delete_orphan_users(member_ids)
        self.stdout.write(
            self.style.SUCCESS(
                f"Deleted tenant '{tenant}': {sum(deleted.values())} rows"
                + (f" and {users} user accounts" if users else "")
                + "."
            )
        )
