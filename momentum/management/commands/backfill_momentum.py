"""Build momentum history from the stored views and deals: ``--tenant S --weeks N``."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from pse_crm.management.tenants import tenant_from_slug
from pse_crm.tenancy import tenant_scope


class Command(BaseCommand):
    help = (
        "Rebuild the weekly momentum snapshots of the last N ISO weeks (this one included) "
        "for one tenant, from stored views, deals, tasks and shares. Weeks without a "
        "segmentation run get one as of their end first (unless --no-segmentation). "
        "Idempotent: running it again gives the same rows."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="The tenant's slug.")
        parser.add_argument("--weeks", type=int, default=12)
        parser.add_argument(
            "--no-segmentation",
            action="store_true",
            help="Do not run the segmentation for weeks that have no run.",
        )

    def handle(self, *args, tenant: str, weeks: int, no_segmentation: bool, **options):
        from momentum.services import momentum_backfill

        if not 1 <= weeks <= 520:
            raise CommandError("--weeks must be between 1 and 520.")
        found = tenant_from_slug(tenant)
        with tenant_scope(found):
            rows = momentum_backfill(tenant=found, weeks=weeks, segment_weeks=not no_segmentation)
        self.stdout.write(
            self.style.SUCCESS(f"Momentum for '{tenant}': {rows} snapshots over {weeks} weeks.")
        )
