from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import transaction

from pse_crm.management.tenants import tenant_from_slug
from pse_crm.models import Membership, User
from pse_crm.roles import Role
from pse_crm.services.memberships import membership_add, membership_role_change
from pse_crm.tenancy import tenant_scope


class Command(BaseCommand):
    help = (
        "Create a user (or find one by email) and give them a role in a tenant. "
        "Idempotent: running it again sets the same role and changes nothing else."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--email", required=True)
        parser.add_argument("--role", required=True, help=f"one of: {', '.join(Role.values)}")
        parser.add_argument("--password", help="set (or reset) the password")
        parser.add_argument("--staff", action="store_true", help="allow the Django admin")

    def handle(
        self,
        *args,
        tenant: str,
        email: str,
        role: str,
        password: str | None,
        staff: bool,
        **options,
    ):
        if role not in Role.values:
            raise CommandError(f"Unknown role '{role}'. Choose one of: {', '.join(Role.values)}.")
        try:
            validate_email(email)
        except ValidationError:
            raise CommandError(f"'{email}' is not a valid email address.") from None
        tenant_obj = tenant_from_slug(tenant)
        email = email.strip().lower()
        try:
            with transaction.atomic(), tenant_scope(tenant_obj):
                created = self._upsert(tenant_obj, email, role, password, staff)
        except ValidationError as error:
            # A membership rule (the tenant's last active owner, say): the services' own
            # message, as the settings page and the admin show it. Nothing was changed.
            raise CommandError(" ".join(error.messages)) from None
        verb = "Created" if created else "Updated"
        self.stdout.write(self.style.SUCCESS(f"{verb} {email} as {role} in '{tenant}'."))

    def _upsert(self, tenant, email: str, role: str, password: str | None, staff: bool) -> bool:
        """Whether the user was created. Memberships go through the membership services."""
        user = User.objects.filter(email__iexact=email).first()
        created = user is None
        if user is not None:
            changed = []
            if password:
                user.set_password(password)
                changed.append("password")
            if staff and not user.is_staff:
                user.is_staff = True
                changed.append("is_staff")
            if changed:
                user.save(update_fields=changed)
        membership = Membership.objects.filter(tenant=tenant, user=user).first() if user else None
        if membership is None:
            membership = membership_add(tenant=tenant, email=email, role=role, password=password)
            if created and staff:
                membership.user.is_staff = True
                membership.user.save(update_fields=["is_staff"])
        elif membership.role != role or not membership.is_active:
            membership_role_change(membership=membership, role=role, is_active=True)
        return created
