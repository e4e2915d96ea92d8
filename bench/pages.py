"""Server time and SQL queries of the main pages, on an existing tenant (PostgreSQL).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pse_bench \\
        .venv/bin/python bench/pages.py --tenant demo [--repeat 15]

Fill the tenant first, e.g. ``manage.py seed_demo --tenant demo --partners 300 --reps 50000
--views 2000000``, then ``manage.py recompute_segments --tenant demo`` and
``manage.py backfill_momentum --tenant demo``. Each page is requested ``--repeat`` times
in-process (Django's test client, logged in as the tenant's first manager or owner, no
network) after one warm-up request; the script prints the median and the fastest time and
the number of SQL queries of each page, and the ratio of each median to the median of a
trivial logged-in page measured in the same run (the members settings page: the session,
the membership, the page's chrome and a short list): what every page pays before its own
work. The pages are requested round-robin, one request of each per round, so that the
load of a shared machine falls on all of them alike. Figures, not assertions.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pse_crm.settings.local")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.db.models import Count
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from pse_crm.models import Membership, Tenant
    from pse_crm.tenancy import tenant_scope
    from segmentation.models import RepSegment

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    tenant = Tenant.objects.get(slug=args.tenant)
    with tenant_scope(tenant):
        membership = (
            Membership.objects.filter(role__in=["manager", "owner"], is_active=True)
            .select_related("user")
            .first()
        )
        segment = (
            RepSegment.objects.filter(run__is_current=True)
            .values("partner_id")
            .annotate(n=Count("pk"))
            .order_by("-n")
            .first()
        )
        segments = RepSegment.objects.filter(run__is_current=True).count()
        rep_id = RepSegment.objects.filter(run__is_current=True).values_list("rep_id", flat=True)[0]
    if membership is None or segment is None:
        sys.exit("The tenant needs a manager or owner and a current segmentation run.")
    client = Client()
    client.force_login(membership.user)
    deep_page = max(1, segments // 50 - 1)
    pages = {
        "trivial page (members settings)": reverse("settings-members"),
        "dashboard": reverse("dashboard"),
        "keymen, first page": reverse("keymen"),
        f"keymen, page {deep_page}": reverse("keymen") + f"?page={deep_page}",
        "keymen, motivated sorted by views": reverse("keymen") + "?quadrant=motivated&sort=views",
        "partners": reverse("partner-list"),
        "partner page (largest)": reverse("partner-detail", args=[segment["partner_id"]]),
        "rep page": reverse("rep-detail", args=[rep_id]),
        "scatter data (JSON)": reverse("chart-scatter"),
        "momentum data (JSON)": reverse("chart-momentum"),
        "task board": reverse("task-board"),
        "quick wins": reverse("quickwins"),
    }
    print(
        f"tenant {tenant.slug}: {segments:,} reps in the current run; {args.repeat} requests a page"
    )
    print(f"{'page':38} {'median ms':>10} {'best ms':>9} {'queries':>8} {'x trivial':>10}")
    times: dict[str, list[float]] = {name: [] for name in pages}
    counts: dict[str, int] = {}
    for url in pages.values():
        assert client.get(url).status_code == 200, url
    for _ in range(args.repeat):
        for name, url in pages.items():
            with CaptureQueriesContext(connection) as queries:
                start = time.perf_counter()
                response = client.get(url)
                if hasattr(response, "streaming_content"):
                    b"".join(response.streaming_content)
                times[name].append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, url
            counts[name] = len(queries)
    trivial = statistics.median(next(iter(times.values())))
    for name, took in times.items():
        median = statistics.median(took)
        print(
            f"{name:38} {median:10.1f} {min(took):9.1f} {counts[name]:8d} {median / trivial:9.1f}x"
        )


if __name__ == "__main__":
    main()
