"""``manage.py recompute_segments --tenant S``: run the keyman segmentation now."""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from pse_crm.management.tenants import tenant_from_slug
from pse_crm.models import Tenant
from pse_crm.tasks import enqueue_on_commit
from pse_crm.tenancy import tenant_scope
from segmentation.cutoffs import cutoff_lines
from segmentation.models import SegmentationRun
from segmentation.services.runs import segmentation_run, segmentation_run_request
from segmentation.templatetags.segmentation_stats import p_value


class Command(BaseCommand):
    help = (
        "Recompute the keyman segmentation (views × results, quadrants, 2:6:2 tiers) of a "
        "tenant, with the same service as the nightly run. Runs here and prints the result; "
        "--queue hands it to a Celery worker instead."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument(
            "--as-of",
            help="ISO 8601 moment to compute as of (a naive time is in the tenant's time zone); "
            "default now",
        )
        parser.add_argument(
            "--queue", action="store_true", help="enqueue on the segmentation queue and return"
        )

    def handle(self, *args, tenant: str, as_of: str | None, queue: bool, **options):
        tenant_obj = tenant_from_slug(tenant)
        moment = self._parse(as_of, tenant_obj) if as_of else timezone.now()
        with tenant_scope(tenant_obj):
            if queue:
                from segmentation.tasks import segmentation_execute

                run = segmentation_run_request(
                    tenant=tenant_obj, as_of=moment, trigger=SegmentationRun.Trigger.COMMAND
                )
                enqueue_on_commit(segmentation_execute, tenant_obj.pk, run.pk)
                self.stdout.write(f"Queued segmentation run {run.pk} for '{tenant}'.")
                return
            run = segmentation_run(
                tenant=tenant_obj, as_of=moment, trigger=SegmentationRun.Trigger.COMMAND
            )
        if run.status != SegmentationRun.Status.SUCCEEDED:
            raise CommandError(f"Run {run.pk} {run.status}: {run.error}")
        counts = ", ".join(f"{k} {v}" for k, v in run.quadrant_counts.items())
        tiers = ", ".join(f"{k} {v}" for k, v in run.tier_counts.items())
        self.stdout.write(
            self.style.SUCCESS(
                f"Run {run.pk} succeeded in {run.duration_ms} ms: {run.rep_count} reps "
                f"({run.active_rep_count} active). Quadrants: {counts}. Tiers: {tiers}."
            )
        )
        for line in cutoff_lines(run):
            self.stdout.write(line)
        if run.partners_without_performer:
            self.stdout.write(
                f"{run.partners_without_performer} partners without a keyman ①"
                " (first-performer candidates on the partner list)."
            )
        if run.correlation_rho is not None:
            self.stdout.write(
                f"Spearman ρ = {run.correlation_rho:.3f} (n = {run.correlation_n}, "
                f"p {p_value(run.correlation_p_value)}, 95% CI {run.correlation_ci_low:.3f} to "
                f"{run.correlation_ci_high:.3f}): correlation, not causation."
            )

    @staticmethod
    def _parse(value: str, tenant: Tenant) -> dt.datetime:
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            raise CommandError(f"--as-of: not an ISO 8601 moment: {value!r}") from None
        if timezone.is_naive(moment):
            moment = moment.replace(tzinfo=tenant.tzinfo)
        return moment
