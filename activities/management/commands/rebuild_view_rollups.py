"""``manage.py rebuild_view_rollups [--tenant S]``: recompute the roll-ups (the views' and
the won deals' per partner and month).

PostgreSQL's triggers keep them in step (the views' below each tenant's mark, which the
fold on beat moves); run this after anything that bypassed triggers (a restore with
``--disable-triggers``, ``DISABLE TRIGGER``): the views' are recomputed from every view and
the mark moved to the last. Every tenant by default.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from activities.services.rollups import view_rollups_rebuild, won_months_rebuild
from pse_crm.management.tenants import tenant_from_slug
from pse_crm.models import Tenant
from pse_crm.tenancy import tenant_scope


class Command(BaseCommand):
    help = (
        "Recompute the roll-ups (PostgreSQL): the material views' from the views, the won"
        " deals' per partner and month from the deals."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="one tenant's slug (default: every tenant)")

    def handle(self, *args, **options):
        if connection.vendor != "postgresql":
            raise CommandError("The roll-ups are kept on PostgreSQL only; nothing to rebuild.")
        if options["tenant"]:
            tenants = [tenant_from_slug(options["tenant"], include_inactive=True)]
        else:
            tenants = list(Tenant.objects.order_by("slug"))
        for tenant in tenants:
            with tenant_scope(tenant):
                done = view_rollups_rebuild(tenant=tenant)
                months_before, months = won_months_rebuild(tenant=tenant)
            self.stdout.write(
                f"{tenant.slug}: {done.days:,} rep-days (were {done.days_before:,}), "
                f"{done.pairs:,} rep-material pairs (were {done.pairs_before:,}), "
                f"{months:,} partner-months of won deals (were {months_before:,})"
            )
