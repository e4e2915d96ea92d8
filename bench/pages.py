"""Server time and SQL queries of the main pages against a trivial logged-in page (PostgreSQL).

Build the data set once (about 6 minutes on the 2-core machine: seed_demo 4 min, the
segmentation run, backfill_momentum 1 min), then measure:

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/pse_bench_pages
    .venv/bin/python manage.py migrate
    .venv/bin/python bench/pages.py --tenant demo --setup      # builds what is missing
    .venv/bin/python bench/pages.py --tenant demo [--repeat 7] [--server client]

``--setup`` does, for the tenant, only what is not there yet, with the project's commands:
``create_tenant --slug demo --name Demo``; ``seed_demo --tenant demo --partners 300 --reps
50000 --views 2000000`` (200,000 deals; ``--partners/--reps/--views`` change the sizes);
``create_user --tenant demo --email pages-owner@bench.example --role owner`` (the trivial
page, the members settings page, is for owners; an owner sees every page a manager sees);
``recompute_segments --tenant demo`` (the current run); ``backfill_momentum --tenant demo``
(12 weeks of snapshots, with a run for each past week); then ``VACUUM ANALYZE`` of the
tables, as autovacuum would do after a bulk load (without statistics on the 580,000
freshly written segments the planner picks nested loops that cost 2-3x). Any existing
tenant with an active owner and a current run can be measured instead (``--tenant SLUG``
without ``--setup``).

``--server gunicorn`` (the default) times real HTTP requests to a gunicorn of this checkout
on 127.0.0.1 and a free port (one sync worker, DEBUG off, every middleware), with the
session cookie of a login made in this process; the server is stopped at the end.
``--server client`` times Django's test client in this process instead (all middleware
too, no socket). The query counts are always taken in this process, with
``CaptureQueriesContext`` around one test-client request of each page, after the timed
rounds.

One warm-up request of each page, then ``--repeat`` rounds; each round requests every page
once, round-robin, so the load of a shared machine falls on all of them alike. It prints
each page's median and fastest time, its SQL queries, and its median as a multiple of the
median of the trivial page measured in the same run (the members settings page: the
session, the membership, the page's chrome and a short list, which every page pays before
its own work). The partner page is the partner with the most reps in the current run.
Figures, not assertions.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pse_crm.settings.local")
# The same settings as the gunicorn of bench._api_server: DEBUG off.
os.environ.setdefault("DEBUG", "false")

OWNER_EMAIL = "pages-owner@bench.example"
TABLES_TO_ANALYZE = (
    "reps_rep",
    "partners_partner",
    "activities_materialview",
    "activities_repviewday",
    "activities_repmaterialspan",
    "activities_deal",
    "enablement_segmentationrun",
    "enablement_repsegment",
    "enablement_partnersegment",
    "enablement_momentumsnapshot",
)


def setup(slug: str, *, partners: int, reps: int, views: int) -> None:
    """Build what the tenant lacks (see the module docstring); each step is idempotent."""
    from django.core.management import call_command
    from django.db import connection

    from momentum.models import MomentumSnapshot
    from pse_crm.models import Membership, Tenant
    from pse_crm.tenancy import tenant_scope
    from segmentation.models import SegmentationRun

    if not Tenant.objects.filter(slug=slug).exists():
        call_command("create_tenant", slug=slug, name=slug.title())
    tenant = Tenant.objects.get(slug=slug)
    started = time.perf_counter()
    # seed_demo changes nothing when the tenant already has data.
    call_command("seed_demo", tenant=slug, partners=partners, reps=reps, views=views, verbosity=0)
    print(f"seed_demo: {time.perf_counter() - started:.0f} s")
    with tenant_scope(tenant):
        has_owner = Membership.objects.filter(role="owner", is_active=True).exists()
        has_run = SegmentationRun.objects.filter(is_current=True).exists()
        has_momentum = MomentumSnapshot.objects.exists()
    if not has_owner:
        call_command("create_user", tenant=slug, email=OWNER_EMAIL, role="owner")
    if not has_run:
        call_command("recompute_segments", tenant=slug)
    if not has_momentum:
        call_command("backfill_momentum", tenant=slug)
    with connection.cursor() as cursor:
        for table in TABLES_TO_ANALYZE:
            cursor.execute(f"VACUUM ANALYZE {connection.ops.quote_name(table)}")


def _http_get(port: int, path: str, cookie: str) -> tuple[int, float]:
    """GET ``path`` with the session cookie; (status, ms from connect to the last byte)."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("GET", path, headers={"Cookie": cookie, "Host": "127.0.0.1"})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.status, (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--server", choices=["gunicorn", "client"], default="gunicorn")
    parser.add_argument("--setup", action="store_true", help="build what the tenant lacks")
    parser.add_argument("--partners", type=int, default=300)
    parser.add_argument("--reps", type=int, default=50_000)
    parser.add_argument("--views", type=int, default=2_000_000)
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

    if args.setup:
        setup(args.tenant, partners=args.partners, reps=args.reps, views=args.views)
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    tenant = Tenant.objects.get(slug=args.tenant)
    with tenant_scope(tenant):
        membership = (
            Membership.objects.filter(role="owner", is_active=True)
            .select_related("user")
            .order_by("pk")
            .first()
        )
        current = RepSegment.objects.filter(run__is_current=True)
        segment = current.values("partner_id").annotate(n=Count("pk")).order_by("-n").first()
        segments = current.count()
        rep_id = current.order_by("-score", "rep_id").values_list("rep_id", flat=True)[0]
    if membership is None or segment is None:
        sys.exit("The tenant needs an active owner and a current run: run with --setup.")
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
        f"partner page ({segment['n']:,} reps)": reverse(
            "partner-detail", args=[segment["partner_id"]]
        ),
        "rep page": reverse("rep-detail", args=[rep_id]),
        "scatter data (JSON)": reverse("chart-scatter"),
        "momentum data (JSON)": reverse("chart-momentum"),
        "task board": reverse("task-board"),
        "quick wins": reverse("quickwins"),
    }

    def client_get(url: str) -> tuple[int, float]:
        started = time.perf_counter()
        response = client.get(url)
        if hasattr(response, "streaming_content"):
            b"".join(response.streaming_content)
        return response.status_code, (time.perf_counter() - started) * 1000

    times: dict[str, list[float]] = {name: [] for name in pages}

    def measure(get) -> None:
        for url in pages.values():  # warm-up: caches, the session's tenant, the plans
            status, _ms = get(url)
            assert status == 200, (url, status)
        for _ in range(args.repeat):
            for name, url in pages.items():
                status, ms = get(url)
                assert status == 200, (url, status)
                times[name].append(ms)

    load_before = os.getloadavg()
    if args.server == "gunicorn":
        from bench._api_server import running_server

        cookie = (
            f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
        )
        with running_server(workers=1) as (_host, port):
            measure(lambda url: _http_get(port, url, cookie))
    else:
        measure(client_get)
    load_after = os.getloadavg()
    counts: dict[str, int] = {}
    for name, url in pages.items():
        with CaptureQueriesContext(connection) as queries:
            status, _ms = client_get(url)
        assert status == 200, url
        counts[name] = len(queries)

    print(
        f"tenant {tenant.slug}: {segments:,} reps in the current run; server {args.server}; "
        f"{args.repeat} rounds; load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after"
    )
    print(f"{'page':38} {'median ms':>10} {'best ms':>9} {'queries':>8} {'x trivial':>10}")
    trivial = statistics.median(next(iter(times.values())))
    for name, took in times.items():
        median = statistics.median(took)
        print(
            f"{name:38} {median:10.1f} {min(took):9.1f} {counts[name]:8d} {median / trivial:9.1f}x"
        )


if __name__ == "__main__":
    main()
