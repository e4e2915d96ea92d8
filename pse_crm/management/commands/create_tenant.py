from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_slug

from pse_crm.models import Tenant, validate_timezone


class Command(BaseCommand):
    help = (
        "Create a tenant (a vendor company). Running it again with the same values changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--slug", required=True)
        parser.add_argument("--name", required=True)
        parser.add_argument("--timezone", default="Asia/Tokyo")

    def handle(self, *args, slug: str, name: str, timezone: str, **options):
        try:
            validate_slug(slug)
            validate_timezone(timezone)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        if not name.strip():
            raise CommandError("--name must not be empty.")
        existing = Tenant.objects.filter(slug=slug).first()
        if existing is not None:
            if existing.name != name:
                raise CommandError(
                    f"A tenant with slug '{slug}' already exists with the name '{existing.name}'."
                )
            self.stdout.write(f"Tenant '{slug}' already exists; nothing changed.")
            return
        Tenant.objects.create(slug=slug, name=name.strip(), timezone=timezone)
        self.stdout.write(self.style.SUCCESS(f"Created tenant '{slug}' ({name})."))
