"""Benchmark a 50,000-row Bulk API 2.0 CSV on ``POST /api/v1/deals/sync/`` over real HTTP.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pse_bench \\
        .venv/bin/python bench/deal_sync_csv.py [--rows 50000] [--pages 1]

PostgreSQL only. The database is created and migrated if needed; the tenant
``bench-sync-csv`` gets 200 partners and 2,000 reps (Salesforce ids) once. A gunicorn server
with one worker (this checkout, DEBUG off) is started on 127.0.0.1 and a free port, and
stopped at the end.

The body is what Bulk API 2.0 writes for a query job (quoted header of Opportunity fields,
quoted values, LF), ``--pages`` result pages joined in one body (each with its header).
Timed, each from the first byte sent to the last byte of the answer read:

1. ``new``: every record new (the tenant's deals are deleted first);
2. ``replay``: the same body again (every record unchanged).

Memory is the worker process's, from ``/proc/<pid>/status``: ``VmHWM`` (its peak resident
set) after a warm-up request (the idle baseline: code loaded, a connection open), then after
each POST. The peak minus the baseline is what handling the body cost at most. Figures,
not assertions.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pse_crm.settings.local")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402

from activities.models import Deal  # noqa: E402
from bench._api_server import bench_key, post_ok, running_server, sales_world_seed  # noqa: E402
from bench.api_sync import ensure_database  # noqa: E402
from pse_crm.models import Tenant  # noqa: E402
from pse_crm.sfid import to_18  # noqa: E402
from pse_crm.tenancy import tenant_scope  # noqa: E402

SLUG = "bench-sync-csv"
PARTNERS = 200
REPS = 2000
HEADER = (
    "Id",
    "Name",
    "Amount",
    "CurrencyIsoCode",
    "StageName",
    "CloseDate",
    "IsClosed",
    "IsWon",
    "IsDeleted",
    "CreatedDate",
    "LastModifiedDate",
    "SystemModstamp",
    "AccountId",
    "OwnerId",
    "PartnerAccountId",
)
STAGES = ["Prospecting", "Qualification", "Proposal", "Negotiation", "Closed Won", "Closed Lost"]


def ensure_world() -> tuple[Tenant, str]:
    tenant, _ = Tenant.objects.get_or_create(slug=SLUG, defaults={"name": "Bench Sync CSV KK"})
    sales_world_seed(tenant, partners=PARTNERS, reps=REPS)
    return tenant, bench_key(tenant)


def _quoted(values) -> str:
    return ",".join('"' + str(v).replace('"', '""') + '"' for v in values) + "\n"


def csv_body(rows: int, pages: int) -> bytes:
    rng = random.Random(4)
    modstamp = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
    iso = "%Y-%m-%dT%H:%M:%S.000Z"
    per_page = -(-rows // pages)
    parts = []
    for i in range(rows):
        if i % per_page == 0:
            parts.append(_quoted(HEADER))
        stage = rng.choice(STAGES)
        parts.append(
            _quoted(
                (
                    to_18(f"006A0000{i:07d}"),
                    f"Opportunity {i}",
                    f"{rng.uniform(1e5, 5e7):.2f}",
                    "JPY",
                    stage,
                    (dt.date(2026, 1, 1) + dt.timedelta(days=rng.randrange(365))).isoformat(),
                    str(stage.startswith("Closed")).lower(),
                    str(stage == "Closed Won").lower(),
                    "false",
                    (modstamp - dt.timedelta(days=30)).strftime(iso),
                    modstamp.strftime(iso),
                    (modstamp + dt.timedelta(seconds=i)).strftime(iso),
                    to_18(f"001B0000{i:07d}"),
                    to_18(f"005A0000{rng.randrange(REPS):07d}"),
                    to_18(f"001A0000{rng.randrange(PARTNERS):07d}"),
                )
            )
        )
    return "".join(parts).encode()


def _status(pid: int) -> dict[str, int]:
    """VmHWM and VmRSS of ``pid`` in KiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmHWM", "VmRSS"):
            out[name] = int(value.split()[0])
    return out


def _ppid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    return -1


def worker_pid(port: int) -> int:
    """The gunicorn worker serving ``port``: a child of the master this process started."""
    mine = os.getpid()
    candidates = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"gunicorn" in cmdline and f"127.0.0.1:{port}".encode() in cmdline:
            candidates.append(int(entry.name))
    masters = [p for p in candidates if _ppid(p) == mine]
    workers = [p for p in candidates if masters and _ppid(p) == masters[0]]
    if len(workers) != 1:
        sys.exit(f"expected one gunicorn worker, found {workers}")
    return workers[0]


def warm_up(host: str, port: int, key: str) -> None:
    conn = http.client.HTTPConnection(host, port, timeout=60)
    conn.request("GET", "/api/v1/deals/sync/", headers={"Authorization": f"Bearer {key}"})
    response = conn.getresponse()
    response.read()
    conn.close()
    if response.status != 200:
        sys.exit(f"warm-up answered {response.status}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--pages", type=int, default=1)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("bench/deal_sync_csv.py needs PostgreSQL (DATABASE_URL=postgres://…)")
    ensure_database()
    tenant, key = ensure_world()
    with tenant_scope(tenant):
        Deal.objects.all().delete()
    body = csv_body(args.rows, args.pages)
    print(
        f"body: {args.rows:,} rows in {args.pages} page(s), {len(body) / 2**20:.1f} MiB "
        f"(Bulk API 2.0 CSV, quoted, LF)"
    )
    with running_server(workers=1) as (host, port):
        warm_up(host, port, key)
        pid = worker_pid(port)
        idle = _status(pid)
        print(
            f"worker {pid} idle (after a warm-up request): VmHWM {idle['VmHWM'] / 1024:.1f} MiB, "
            f"VmRSS {idle['VmRSS'] / 1024:.1f} MiB"
        )
        for run in ("new", "replay"):
            result, seconds = post_ok(
                host, port, "/api/v1/deals/sync/", body, key=key, content_type="text/csv", what=run
            )
            after = _status(pid)
            counts = ", ".join(
                f"{k} {result[k]:,}" for k in ("created", "updated", "unchanged") if k in result
            )
            print(
                f"{run:>6}: {seconds:6.2f} s, {args.rows / seconds:8,.0f} rows/s ({counts}); "
                f"worker VmHWM {after['VmHWM'] / 1024:.1f} MiB "
                f"(+{(after['VmHWM'] - idle['VmHWM']) / 1024:.1f} MiB over idle), "
                f"VmRSS after {after['VmRSS'] / 1024:.1f} MiB"
            )
            time.sleep(0.5)


if __name__ == "__main__":
    main()
