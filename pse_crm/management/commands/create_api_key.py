"""Create a tenant's API key; the key is printed once, alone on the last line."""

from django.core.management.base import BaseCommand, CommandError

from pse_crm.management.tenants import tenant_from_slug
from pse_crm.models import TenantAPIKey


class Command(BaseCommand):
    help = (
        "Create a named API key for a tenant (role: integration). The key is stored hashed "
        "and printed once, alone on the last line of the output: copy it now."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="The tenant's slug.")
        parser.add_argument("--name", required=True, help="What the key is for (50 characters).")

    def handle(self, *args, tenant: str, name: str, **options):
        name = name.strip()
        if not name:
            raise CommandError("--name must not be empty.")
        max_length = TenantAPIKey._meta.get_field("name").max_length
        if len(name) > max_length:
            raise CommandError(f"--name is at most {max_length} characters.")
        found = tenant_from_slug(tenant)
        api_key, key = TenantAPIKey.objects.create_key(tenant=found, name=name)
        self.stdout.write(
            f"Created API key '{name}' (prefix {api_key.prefix}) for tenant '{found.slug}'. "
            "It is shown once: store it now."
        )
        self.stdout.write(key)
