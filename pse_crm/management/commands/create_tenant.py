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
        parser.add_argument(
            "--currency",
            default=None,
            help=(
                "The corporate currency, a three-letter ISO code (default JPY): every "
                "amount summed anywhere is converted to it. Owners change it in the settings."
            ),
        )

    def handle(self, *args, slug: str, name: str, timezone: str, currency=None, **options):
        try:
            validate_slug(slug)
            validate_timezone(timezone)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        corporate = Tenant._meta.get_field("corporate_currency")
        code = (currency or corporate.default).strip().upper()
        try:
            corporate.run_validators(code)  # the model's rule: three capitals
        except ValidationError:
            raise CommandError(
                "--currency must be a three-letter ISO code, such as JPY or USD."
            ) from None
        if not name.strip():
            raise CommandError("--name must not be empty.")
        existing = Tenant.objects.filter(slug=slug).first()
        if existing is not None:
            if existing.name != name:
                raise CommandError(
                    f"A tenant with slug '{slug}' already exists with the name '{existing.name}'."
                )
            if currency is not None and existing.corporate_currency != code:
                raise CommandError(
                    f"Tenant '{slug}' already exists with the corporate currency "
                    f"{existing.corporate_currency}. An owner changes it on the settings page "
                    "(it reconverts every deal)."
                )
            self.stdout.write(f"Tenant '{slug}' already exists; nothing changed.")
            return
        Tenant.objects.create(
            slug=slug, name=name.strip(), timezone=timezone, corporate_currency=code
        )
        self.stdout.write(self.style.SUCCESS(f"Created tenant '{slug}' ({name})."))
