"""The one way a management command turns ``--tenant SLUG`` into a tenant."""

from __future__ import annotations

from django.core.management.base import CommandError

from pse_crm.models import Tenant


def tenant_from_slug(slug: str, *, include_inactive: bool = False) -> Tenant:
    """The tenant with ``slug``; a clear ``CommandError`` when there is none.

    A deactivated tenant is refused unless ``include_inactive`` (export and removal work on
    a tenant that has been switched off).
    """
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        raise CommandError(f"Unknown tenant '{slug}'. Create it first with create_tenant.")
    if not tenant.is_active and not include_inactive:
        raise CommandError(f"Tenant '{slug}' is deactivated.")
    return tenant
