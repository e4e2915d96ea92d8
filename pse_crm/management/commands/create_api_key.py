"""Create a tenant's API key; the key is printed once, alone on the last line."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from pse_crm.management.tenants import tenant_from_slug
from pse_crm.roles import KeyScope
from pse_crm.services.api_keys import api_key_create


class Command(BaseCommand):
    help = (
        "Create a named API key for a tenant. The key is stored hashed and printed once, "
        "alone on the last line of the output: copy it now."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="The tenant's slug.")
        parser.add_argument("--name", required=True, help="What the key is for (50 characters).")
        parser.add_argument(
            "--scope",
            default=KeyScope.WRITE.value,
            help=(
                "What the key may do, comma-separated for several: read (results: segments, "
                "partner figures, momentum, quick wins, deal signals, and the data), write "
                "(the data feed: partners, reps, materials, views, deals, sync), outbound "
                "(Salesforce Outbound Messages only). Default: write."
            ),
        )

    def handle(self, *args, tenant: str, name: str, scope: str, **options):
        found = tenant_from_slug(tenant)
        try:
            api_key, key = api_key_create(tenant=found, name=name, scopes=scope)
        except ValidationError as error:
            messages = [
                f"--{'scope' if field == 'scopes' else field}: {message}"
                for field, field_messages in error.message_dict.items()
                for message in field_messages
            ]
            raise CommandError(" ".join(messages)) from None
        self.stdout.write(
            f"Created API key '{api_key.name}' (prefix {api_key.prefix}, scopes "
            f"{api_key.scopes}) for tenant '{found.slug}'. It is shown once: store it now."
        )
        self.stdout.write(key)
