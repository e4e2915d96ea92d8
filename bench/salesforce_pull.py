"""Benchmark the Salesforce connector's pull against the fake org, over real HTTP.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pse_bench_sf \\
        .venv/bin/python bench/salesforce_pull.py [--records 100000] [--page-size 2000]

PostgreSQL only; the database is created and migrated if needed. The fake org
(tests/activities/fake_salesforce.py) runs in a process of its own with ``--records``
Opportunities (200 partners, 2,000 owners, all known to the tenant ``bench-sf``), so its
memory and CPU are not the pull's. Figures, not assertions:

1. a full first pull (no watermark) into an empty tenant: seconds, records/s, pages, and
   the pull process's peak resident memory (VmHWM reset just before, Linux);
2. an incremental pull after ``--changes`` Opportunities were edited in the org: seconds
   and the records it read (the changes plus the overlap's).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pse_crm.settings.local")

import django  # noqa: E402

django.setup()

import requests  # noqa: E402
from django.db import connection  # noqa: E402

from activities.models import Deal, SalesforceConnection, SalesforcePullRun  # noqa: E402
from activities.services.salesforce import salesforce_connect, salesforce_pull  # noqa: E402
from bench.api_sync import ensure_database  # noqa: E402
from partners.models import Partner  # noqa: E402
from pse_crm.models import Tenant  # noqa: E402
from pse_crm.sfid import to_18  # noqa: E402
from pse_crm.tenancy import tenant_scope  # noqa: E402
from reps.models import Rep  # noqa: E402
from tests.activities.fake_salesforce import CLIENT_ID, CLIENT_SECRET  # noqa: E402

SLUG = "bench-sf"
PARTNERS = 200
REPS = 2000


def ensure_tenant() -> Tenant:
    tenant, _ = Tenant.objects.get_or_create(slug=SLUG, defaults={"name": "Bench Salesforce KK"})
    with tenant_scope(tenant):
        # One statement, no per-row signals (the audit trail records a delete() row by row).
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {Deal._meta.db_table} WHERE tenant_id = %s", [tenant.pk])
        SalesforcePullRun.objects.filter(tenant=tenant).delete()
        SalesforceConnection.objects.filter(tenant=tenant).delete()
        if Partner.objects.count() < PARTNERS:
            partners = Partner.objects.bulk_create(
                [
                    Partner(tenant=tenant, name=f"Partner {n}", external_id=to_18(f"001A{n:011d}"))
                    for n in range(PARTNERS)
                ]
            )
            Rep.objects.bulk_create(
                [
                    Rep(
                        tenant=tenant,
                        partner=partners[n % PARTNERS],
                        name=f"Rep {n}",
                        email=f"rep{n}@p{n % PARTNERS}.example.jp",
                        salesforce_user_id=to_18(f"005A{n:011d}"),
                    )
                    for n in range(REPS)
                ]
            )
    return tenant


def _kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak() -> None:
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS


def _timed_pull(tenant: Tenant, *, full: bool) -> tuple[float, SalesforcePullRun]:
    started = time.perf_counter()
    with tenant_scope(tenant):
        run = salesforce_pull(tenant=tenant, full=full, trigger="bench")
    elapsed = time.perf_counter() - started
    if run.status != SalesforcePullRun.Status.SUCCEEDED:
        sys.exit(f"the pull failed: {run.error}")
    return elapsed, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=2000)
    parser.add_argument("--changes", type=int, default=100)
    args = parser.parse_args()

    ensure_database()
    tenant = ensure_tenant()
    print(f"starting the fake org with {args.records:,} opportunities…", flush=True)
    fake = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.activities.fake_salesforce",
            "--records",
            str(args.records),
            "--page-size",
            str(args.page_size),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = fake.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1:"):
            sys.exit("the fake org did not start")
        with tenant_scope(tenant):
            salesforce_connect(
                tenant=tenant, instance_url=url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET
            )
        rss_before = _kib("VmRSS")
        _reset_peak()
        seconds, run = _timed_pull(tenant, full=False)
        peak = _kib("VmHWM")
        with tenant_scope(tenant):
            stored = Deal.objects.filter(tenant=tenant).count()
            linked = Deal.objects.filter(
                tenant=tenant, partner__isnull=False, rep__isnull=False
            ).count()
        print(
            f"first pull: {run.records:,} records in {run.pages} pages of {args.page_size:,}: "
            f"{seconds:.1f} s, {run.records / seconds:,.0f} records/s; "
            f"stored {stored:,} deals ({linked:,} linked to partner and rep)"
        )
        print(
            f"  memory: RSS {rss_before / 1024:.0f} MiB before, peak {peak / 1024:.0f} MiB "
            f"during (+{(peak - rss_before) / 1024:.0f} MiB)"
        )
        requests.post(
            f"{url}/_fake/touch", params={"n": args.changes}, timeout=60
        ).raise_for_status()
        seconds, run = _timed_pull(tenant, full=False)
        print(
            f"incremental pull after {args.changes} changes: {seconds:.2f} s "
            f"({run.records} records read in {run.pages} page(s), the overlap included)"
        )
    finally:
        fake.terminate()
        fake.wait(10)


if __name__ == "__main__":
    main()
