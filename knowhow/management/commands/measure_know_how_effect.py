"""``manage.py measure_know_how_effect --tenant S``: measure the know-how effects now."""

from __future__ import annotations

import time

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from knowhow.effect import DEFAULT_EFFECT_DAYS
from knowhow.models import KnowHowEffect
from knowhow.services import know_how_effects_compute
from pse_crm.management.tenants import tenant_from_slug
from pse_crm.tenancy import tenant_scope


class Command(BaseCommand):
    help = (
        "Measure the effect of a tenant's know-how against a comparison group (the nightly "
        "step, now) and print it. Correlation, not causation."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument(
            "--days",
            type=int,
            default=DEFAULT_EFFECT_DAYS,
            help=f"days before and after each share (default {DEFAULT_EFFECT_DAYS})",
        )

    def handle(self, *args, tenant: str, days: int, **options):
        found = tenant_from_slug(tenant)
        with tenant_scope(found):
            clock = time.perf_counter()
            try:
                written = know_how_effects_compute(tenant=found, days=days)
            except ValidationError as error:
                raise CommandError(" ".join(error.messages)) from None
            elapsed = (time.perf_counter() - clock) * 1000
            rows = list(
                KnowHowEffect.objects.filter(days=days)
                .select_related("know_how")
                .order_by("know_how_id")
            )
        self.stdout.write(f"{written} rows in {elapsed:.0f} ms ({days} days before and after).")
        for row in rows:
            title = row.know_how.title if row.know_how else "All know-how"
            line = (
                f"{title}: {row.status}; reached {row.reached}, matched {row.matched}, "
                f"comparison {row.comparison_reps}, waiting {row.waiting}, not segmented "
                f"{row.unmatched_segment}, no comparison {row.unmatched_comparison}"
            )
            for name, m in row.metrics.items():
                line += (
                    f"\n  {name}: reached {m['reached_before']:.3f}→{m['reached_after']:.3f}, "
                    f"comparison {m['comparison_before']:.3f}→{m['comparison_after']:.3f}, "
                    f"naive {m['naive']:+.3f}, DiD {m['did']:+.3f} "
                    f"[95% {m['ci_low']:+.3f}, {m['ci_high']:+.3f}]"
                )
            self.stdout.write(line)
        self.stdout.write("Correlation, not causation.")
