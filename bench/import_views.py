"""Benchmark ``manage.py import_views`` against a plain psycopg COPY of the same file.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pse_bench \\
        .venv/bin/python bench/import_views.py [--rows 1000000] [--reps 10000] [--batches 20]

PostgreSQL only. The first call migrates the database and creates the tenant
``bench-import`` with partners, domains, reps and materials; later calls reuse them and
delete the tenant's views first, so every run starts from the same state.

It writes one CSV of ``--rows`` view events (UTF-8, the documented columns, reps by
email, a mix of naive and offset times) and times, in one run:

1. ``import_views`` of the file into the empty view table of the tenant (new rows);
2. ``import_views`` of the same file again (every row a replayed duplicate);
3. a plain psycopg ``COPY … FROM STDIN (FORMAT csv)`` of the same file into an empty
   table with the same column types: the floor for moving these bytes into PostgreSQL;
4. the API's shape: ``--batches`` batches of 10,000 JSON-like events through
   ``material_views_ingest`` (what ``POST /api/v1/material-views/`` calls).

The deal-signal receiver is disconnected while timing: this measures ingestion
(bench/deal_signals.py measures the evaluation it triggers). Figures, not assertions.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pse_crm.settings.local")

import django  # noqa: E402

django.setup()

import psycopg  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from activities.models import Material, MaterialView  # noqa: E402
from activities.services.material_views import material_views_ingest  # noqa: E402
from activities.signals import material_views_ingested  # noqa: E402
from partners.models import Partner, PartnerDomain  # noqa: E402
from pse_crm.models import Tenant  # noqa: E402
from pse_crm.tenancy import tenant_scope  # noqa: E402
from reps.models import Rep  # noqa: E402

SLUG = "bench-import"
HEADER = "event_id,rep_email,material_external_id,viewed_at,duration_seconds\n"


def ensure_world(*, reps: int) -> tuple[Tenant, list[str], list[str]]:
    tenant, _ = Tenant.objects.get_or_create(slug=SLUG, defaults={"name": "Bench Import KK"})
    with tenant_scope(tenant):
        if Rep.objects.count() < reps:
            partners = []
            for i in range(10):
                p, _ = Partner.objects.get_or_create(tenant=tenant, name=f"株式会社ベンチ{i}")
                PartnerDomain.objects.get_or_create(
                    tenant=tenant, partner=p, domain=f"bench{i}.example.jp"
                )
                partners.append(p)
            have = set(Rep.objects.values_list("email", flat=True))
            Rep.objects.bulk_create(
                [
                    Rep(
                        tenant=tenant,
                        partner=partners[n % 10],
                        name=f"担当者 {n}",
                        email=f"rep{n}@bench{n % 10}.example.jp",
                    )
                    for n in range(reps)
                    if f"rep{n}@bench{n % 10}.example.jp" not in have
                ],
                batch_size=5000,
            )
        if Material.objects.count() < 50:
            Material.objects.bulk_create(
                [
                    Material(tenant=tenant, title=f"資料 {n}", external_id=f"bm-{n:03d}")
                    for n in range(50)
                ],
                ignore_conflicts=True,
            )
        emails = sorted(Rep.objects.values_list("email", flat=True))[:reps]
        materials = sorted(Material.objects.values_list("external_id", flat=True))
    return tenant, emails, materials


def write_csv(path: Path, *, rows: int, emails: list[str], materials: list[str]) -> int:
    rng = random.Random(1)
    start = dt.datetime(2026, 1, 1, 9, 0)
    buf = io.StringIO()
    buf.write(HEADER)
    for n in range(rows):
        at = start + dt.timedelta(seconds=rng.randrange(0, 180 * 86400))
        stamp = at.isoformat() if n % 2 else at.isoformat() + "+09:00"
        buf.write(
            f"evt-{n:08d},{rng.choice(emails)},{rng.choice(materials)},{stamp},{rng.randrange(600)}\n"
        )
    data = buf.getvalue().encode()
    path.write_bytes(data)
    return len(data)


def delete_views(tenant: Tenant) -> None:
    with tenant_scope(tenant), connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {MaterialView._meta.db_table} WHERE tenant_id = %s", [tenant.pk]
        )
        cursor.execute(f"ANALYZE {MaterialView._meta.db_table}")


def timed(label: str, rows: int, fn) -> float:
    t0 = time.perf_counter()
    fn()
    seconds = time.perf_counter() - t0
    print(f"{label:<44} {rows:>10,} rows {seconds:8.2f} s {rows / seconds:>12,.0f} rows/s")
    return seconds


def plain_copy(path: Path) -> None:
    s = connection.settings_dict
    conninfo = psycopg.conninfo.make_conninfo(
        dbname=s["NAME"],
        user=s["USER"] or "postgres",
        host=s["HOST"] or "127.0.0.1",
        port=s["PORT"] or 5432,
        password=s["PASSWORD"] or None,
    )
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_plain_copy")
        conn.execute(
            "CREATE TABLE bench_plain_copy (event_id text, rep_email text, "
            "material_external_id text, viewed_at timestamptz, duration_seconds integer)"
        )
        try:
            with conn.cursor() as cur:
                t0 = time.perf_counter()
                with (
                    cur.copy("COPY bench_plain_copy FROM STDIN (FORMAT csv, HEADER true)") as copy,
                    path.open("rb") as fh,
                ):
                    while chunk := fh.read(1 << 20):
                        copy.write(chunk)
                return time.perf_counter() - t0
        finally:
            conn.execute("DROP TABLE IF EXISTS bench_plain_copy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=10_000)
    parser.add_argument("--batches", type=int, default=20)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("bench/import_views.py needs PostgreSQL: set DATABASE_URL=postgres://…")
    call_command("migrate", verbosity=0)
    tenant, emails, materials = ensure_world(reps=args.reps)
    material_views_ingested.receivers = []  # ingestion alone (see the docstring)
    material_views_ingested.sender_receivers_cache.clear()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "views.csv"
        size = write_csv(path, rows=args.rows, emails=emails, materials=materials)
        print(f"PostgreSQL {connection.pg_version}; file {size / 1e6:.0f} MB, {args.rows:,} rows")
        delete_views(tenant)
        quiet = io.StringIO()
        new = timed(
            "import_views, new rows",
            args.rows,
            lambda: call_command("import_views", str(path), tenant=SLUG, stdout=quiet),
        )
        with tenant_scope(tenant):
            stored = MaterialView.objects.count()
        assert stored == args.rows, f"stored {stored} views, expected {args.rows}"
        replay = timed(
            "import_views, replayed (all duplicates)",
            args.rows,
            lambda: call_command("import_views", str(path), tenant=SLUG, stdout=quiet),
        )
        copy_s = plain_copy(path)
        print(
            f"{'plain psycopg COPY into an empty table':<44} {args.rows:>10,} rows "
            f"{copy_s:8.2f} s {args.rows / copy_s:>12,.0f} rows/s"
        )
        print(f"ratio import_views new / plain COPY:      {new / copy_s:6.1f}x the time")
        print(f"ratio import_views replayed / plain COPY: {replay / copy_s:6.1f}x the time")

    # The API's shape: batches of 10,000 events as dicts, new rows each time.
    delete_views(tenant)
    rng = random.Random(2)
    batches = [
        [
            (
                i,
                {
                    "event_id": f"api-{b:04d}-{i:05d}",
                    "rep_email": rng.choice(emails),
                    "material_external_id": rng.choice(materials),
                    "viewed_at": f"2026-03-{1 + i % 28:02d}T10:{i % 60:02d}:00+09:00",
                    "duration_seconds": i % 300,
                },
            )
            for i in range(10_000)
        ]
        for b in range(args.batches)
    ]
    total = 10_000 * args.batches

    def run_batches():
        for batch in batches:
            material_views_ingest(tenant=tenant, rows=batch, source="api")

    seconds = timed(f"material_views_ingest, {args.batches} x 10,000", total, run_batches)
    print(f"per 10,000-event batch: {seconds / args.batches * 1000:.0f} ms")
    delete_views(tenant)


if __name__ == "__main__":
    main()
