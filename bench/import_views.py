"""Benchmark ``manage.py import_views`` against a plain psycopg COPY of the same file.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pse_bench \\
        .venv/bin/python bench/import_views.py [--rows 300000] [--reps 10000] [--batches 20] [--repeat 5]

PostgreSQL only. The first call migrates the database and creates the tenant
``bench-import`` with partners, domains, reps and materials; later calls reuse them and
delete the tenant's views first, so every run starts from the same state.

It writes one CSV of ``--rows`` view events (UTF-8, the documented columns, reps by
email, a mix of naive and offset times) and times, in one run:

1. ``import_views`` of the file into the empty view table of the tenant (new rows);
2. ``import_views`` of the same file again (every row a replayed duplicate);
3. the same-shape floor: in one transaction, a ``COPY … (FORMAT csv)`` of the same file
   into a staging table, then one ``INSERT … SELECT … ON CONFLICT (tenant_id, event_id)
   DO NOTHING`` into an empty table built ``LIKE`` the view table (the same columns,
   indexes and unique constraint; none of its foreign keys, checks, triggers or
   row-level security), reps and materials resolved by a join: what any storing of these
   rows with these indexes has to pay;
4. a bare psycopg ``COPY … FROM STDIN (FORMAT csv)`` of the same file into an empty
   table with the file's columns and no index: the cost of moving the bytes in;
5. the API's shape: ``--batches`` batches of 10,000 JSON-like events through
   ``material_views_ingest`` (what ``POST /api/v1/material-views/`` calls).

After the replay each round also times the fold of the new rows into the roll-ups
(``view_rollups_fold``): beat runs it after the import commits (activities migration
0015), so it is not part of the import's time, and is printed beside it.

Steps 1 to 4 are repeated ``--repeat`` times (the views deleted before each round) and
the medians and the ratios of the medians are printed: on a shared machine only figures
measured side by side compare.

The deal-signal receiver is disconnected while timing: this measures ingestion
(bench/deal_signals.py measures the evaluation it triggers). Figures, not assertions.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import random
import statistics
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

from activities.models import (  # noqa: E402
    Material,
    MaterialView,
    RepMaterialSpan,
    RepViewDay,
    ViewRollupMark,
)
from activities.services.material_views import material_views_ingest  # noqa: E402
from activities.services.rollups import view_rollups_fold  # noqa: E402
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
    """Delete the tenant's views (their roll-ups go with them) and VACUUM the three tables,
    so that every round starts from the same state: without it each round inserts into
    indexes holding the dead entries of every earlier round, while the floor's table is
    new each time."""
    with tenant_scope(tenant), connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {MaterialView._meta.db_table} WHERE tenant_id = %s", [tenant.pk]
        )
    with psycopg.connect(_conninfo(), autocommit=True) as conn:
        for model in (MaterialView, RepViewDay, RepMaterialSpan, ViewRollupMark):
            conn.execute(f"VACUUM ANALYZE {model._meta.db_table}")


def timed(label: str, rows: int, fn) -> float:
    t0 = time.perf_counter()
    fn()
    seconds = time.perf_counter() - t0
    print(f"{label:<44} {rows:>10,} rows {seconds:8.2f} s {rows / seconds:>12,.0f} rows/s")
    return seconds


def _conninfo() -> str:
    s = connection.settings_dict
    return psycopg.conninfo.make_conninfo(
        dbname=s["NAME"],
        user=s["USER"] or "postgres",
        host=s["HOST"] or "127.0.0.1",
        port=s["PORT"] or 5432,
        password=s["PASSWORD"] or None,
    )


def same_shape_floor(path: Path, tenant: Tenant) -> float:
    """COPY the file into a staging table and move it, reps and materials joined, into an
    empty table with the view table's columns, indexes and unique constraint; seconds."""
    views = MaterialView._meta.db_table
    with psycopg.connect(_conninfo(), autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_floor")
        # The columns, defaults, identity and every index (the primary key and the unique
        # constraint included) of the view table as it is now; LIKE copies no foreign key,
        # check, trigger or policy.
        conn.execute(
            f"CREATE TABLE bench_floor (LIKE {views} INCLUDING DEFAULTS INCLUDING IDENTITY"
            " INCLUDING INDEXES)"
        )
        try:
            t0 = time.perf_counter()
            with conn.transaction(), conn.cursor() as cur:
                cur.execute("SELECT set_config('timezone', %s, true)", [tenant.timezone])
                cur.execute(
                    "CREATE TEMPORARY TABLE bench_floor_stage (event_id text, rep_email text,"
                    " material_external_id text, viewed_at timestamptz, duration_seconds integer)"
                    " ON COMMIT DROP"
                )
                with (
                    cur.copy("COPY bench_floor_stage FROM STDIN (FORMAT csv, HEADER true)") as copy,
                    path.open("rb") as fh,
                ):
                    while chunk := fh.read(1 << 20):
                        copy.write(chunk)
                # Statistics for the join (a temporary table has none): a hash join.
                cur.execute("ANALYZE bench_floor_stage")
                cur.execute(
                    "INSERT INTO bench_floor (tenant_id, rep_id, material_id, viewed_at,"
                    " duration_seconds, source, event_id, ingested_at)"
                    " SELECT %(t)s, r.id, m.id, s.viewed_at, s.duration_seconds, 'views.csv',"
                    " s.event_id, now()"
                    " FROM bench_floor_stage s"
                    f" JOIN {Rep._meta.db_table} r ON r.tenant_id = %(t)s"
                    "  AND lower(r.email) = s.rep_email"
                    f" JOIN {Material._meta.db_table} m ON m.tenant_id = %(t)s"
                    "  AND m.external_id = s.material_external_id"
                    " ON CONFLICT (tenant_id, event_id) DO NOTHING",
                    {"t": tenant.pk},
                )
            return time.perf_counter() - t0
        finally:
            conn.execute("DROP TABLE IF EXISTS bench_floor")


def plain_copy(path: Path) -> float:
    with psycopg.connect(_conninfo(), autocommit=True) as conn:
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
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--reps", type=int, default=10_000)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
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
        print(
            f"PostgreSQL {connection.pg_version}; file {size / 1e6:.0f} MB, {args.rows:,} rows,"
            f" {args.repeat} rounds"
        )
        quiet = io.StringIO()
        new_s, replay_s, fold_s, floor_s, copy_s = [], [], [], [], []
        for n in range(args.repeat):
            delete_views(tenant)
            new_s.append(
                timed(
                    f"#{n + 1} import_views, new rows",
                    args.rows,
                    lambda: call_command("import_views", str(path), tenant=SLUG, stdout=quiet),
                )
            )
            with tenant_scope(tenant):
                stored = MaterialView.objects.count()
            assert stored == args.rows, f"stored {stored} views, expected {args.rows}"
            replay_s.append(
                timed(
                    f"#{n + 1} import_views, replayed (all duplicates)",
                    args.rows,
                    lambda: call_command("import_views", str(path), tenant=SLUG, stdout=quiet),
                )
            )
            with tenant_scope(tenant):
                fold_s.append(
                    timed(
                        f"#{n + 1} fold into the roll-ups (beat, after)",
                        args.rows,
                        lambda: view_rollups_fold(tenant=tenant),
                    )
                )
            floor_s.append(same_shape_floor(path, tenant))
            print(
                f"{f'#{n + 1} same-shape floor (COPY + INSERT … SELECT)':<44} {args.rows:>10,} "
                f"rows {floor_s[-1]:8.2f} s {args.rows / floor_s[-1]:>12,.0f} rows/s"
            )
            copy_s.append(plain_copy(path))
            print(
                f"{f'#{n + 1} bare COPY, no index':<44} {args.rows:>10,} rows "
                f"{copy_s[-1]:8.2f} s {args.rows / copy_s[-1]:>12,.0f} rows/s"
            )
        med = statistics.median
        new, replay, floor, bare = med(new_s), med(replay_s), med(floor_s), med(copy_s)
        fold = med(fold_s)
        print(f"medians of {args.repeat} rounds, {args.rows:,} rows:")
        for label, seconds in (
            ("import_views, new rows", new),
            ("import_views, replayed", replay),
            ("fold (beat, after)", fold),
            ("same-shape floor", floor),
            ("bare COPY", bare),
        ):
            print(f"  {label:<24} {seconds:8.2f} s {args.rows / seconds:>12,.0f} rows/s")
        print(f"ratio new rows / same-shape floor: {new / floor:6.2f}x (goal <= 1.5x)")
        print(f"ratio new rows + fold / same-shape floor: {(new + fold) / floor:6.2f}x")
        print(f"ratio new rows / bare COPY:        {new / bare:6.2f}x")
        print(f"ratio same-shape floor / bare COPY: {floor / bare:5.2f}x")
        print(f"replay is {new / replay:.1f}x faster than new rows (goal >= 5x)")

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
