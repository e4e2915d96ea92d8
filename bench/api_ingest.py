"""Benchmark ``POST /api/v1/material-views/`` end to end over real HTTP (events/s).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pse_bench \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/2 \\
        .venv/bin/python bench/api_ingest.py [--batches 10] [--clients 4]

PostgreSQL only. The database is created and migrated if needed; the tenant
``bench-ingest-api`` gets 20 partners (with email domains), 5,000 reps and 100 materials
once; its views are deleted before each run. A gunicorn server (this checkout, DEBUG off,
``--clients`` workers) runs on 127.0.0.1 and a free port and is stopped at the end. With a
broker configured, the deal-signal task each batch enqueues goes to it (as in production).

It times, with batches of 10,000 events (JSON arrays, reps by external id or email,
materials by external id, ISO 8601 times with an offset):

1. ``--batches`` new batches posted one after another by one client;
2. ``--batches`` more new batches posted by ``--clients`` clients at once;
3. one batch replayed (every event a duplicate);
4. one new batch as ``text/csv`` with the columns of the CSV import.

Times are from the first byte sent to the last byte of the answer. Figures, not assertions.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import os
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pse_crm.settings.local")

import django  # noqa: E402

django.setup()

from activities.models import Material, MaterialView  # noqa: E402
from bench._api_server import bench_key, post_ok, running_server  # noqa: E402
from bench.api_sync import ensure_database  # noqa: E402
from partners.models import Partner, PartnerDomain  # noqa: E402
from pse_crm.models import Tenant  # noqa: E402
from pse_crm.tenancy import tenant_scope  # noqa: E402
from reps.models import Rep  # noqa: E402

SLUG = "bench-ingest-api"
PARTNERS, REPS, MATERIALS = 20, 5000, 100
BATCH = 10_000


def ensure_world() -> tuple[Tenant, str]:
    tenant, _ = Tenant.objects.get_or_create(slug=SLUG, defaults={"name": "Bench Ingest KK"})
    with tenant_scope(tenant):
        if Rep.objects.count() < REPS:
            partners = Partner.objects.bulk_create(
                [Partner(tenant=tenant, name=f"Partner {n}") for n in range(PARTNERS)]
            )
            PartnerDomain.objects.bulk_create(
                [
                    PartnerDomain(tenant=tenant, partner=p, domain=f"p{n}.example.jp")
                    for n, p in enumerate(partners)
                ]
            )
            Rep.objects.bulk_create(
                [
                    Rep(
                        tenant=tenant,
                        partner=partners[n % PARTNERS],
                        name=f"Rep {n}",
                        email=f"rep{n}@p{n % PARTNERS}.example.jp",
                        external_id=f"u-{n}",
                    )
                    for n in range(REPS)
                ]
            )
            Material.objects.bulk_create(
                [
                    Material(tenant=tenant, title=f"Material {n}", external_id=f"m-{n}")
                    for n in range(MATERIALS)
                ]
            )
        MaterialView.objects.filter(tenant=tenant).delete()
    return tenant, bench_key(tenant)


def events(batch: int) -> list[dict]:
    rng = random.Random(batch)
    t0 = dt.datetime(2026, 3, 1, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    out = []
    for i in range(BATCH):
        rep = rng.randrange(REPS)
        event = {
            "event_id": f"b{batch}-e{i}",
            "material_external_id": f"m-{rng.randrange(MATERIALS)}",
            "viewed_at": (t0 + dt.timedelta(seconds=batch * BATCH + i)).isoformat(),
            "duration_seconds": rng.randrange(5, 600),
        }
        if i % 2:
            event["rep_external_id"] = f"u-{rep}"
        else:
            event["rep_email"] = f"rep{rep}@p{rep % PARTNERS}.example.jp"
        out.append(event)
    return out


def as_csv(rows: list[dict]) -> bytes:
    buf = io.StringIO()
    columns = ["event_id", "rep_email", "rep_external_id", "material_external_id", "viewed_at"]
    writer = csv.DictWriter(buf, fieldnames=[*columns, "duration_seconds"])
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    ensure_database()
    tenant, key = ensure_world()
    n = args.batches
    bodies = [json.dumps(events(b)).encode() for b in range(2 * n + 1)]
    csv_body = as_csv(events(10_000))

    def send(body: bytes, content_type: str = "application/json") -> tuple[dict, float]:
        return post_ok(
            host,
            port,
            "/api/v1/material-views/",
            body,
            key=key,
            content_type=content_type,
            what=content_type,
        )

    with running_server(workers=args.clients) as (host, port):
        send(bodies[-1])  # warm up: imports, connections, first queries
        started = time.perf_counter()
        sequential = [send(b) for b in bodies[:n]]
        seq_wall = time.perf_counter() - started

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.clients) as pool:
            parallel = list(pool.map(send, bodies[n : 2 * n]))
        par_wall = time.perf_counter() - started

        replay, replay_s = send(bodies[0])
        csv_answer, csv_s = send(csv_body, "text/csv")

    created = sum(a["created"] for a, _ in sequential)
    per_batch = sorted(s for _, s in sequential)
    print(f"material-view ingestion over HTTP, batches of {BATCH:,} events")
    print(
        f"sequential, 1 client : {n} batches, {created:,} created in {seq_wall:.2f}s = "
        f"{created / seq_wall:,.0f} events/s (batch median {per_batch[len(per_batch) // 2]:.3f}s)"
    )
    created_par = sum(a["created"] for a, _ in parallel)
    print(
        f"parallel, {args.clients} clients: {n} batches, {created_par:,} created in {par_wall:.2f}s = "
        f"{created_par / par_wall:,.0f} events/s"
    )
    print(
        f"replay of one batch  : {replay['duplicates']:,} duplicates in {replay_s:.3f}s = "
        f"{BATCH / replay_s:,.0f} events/s"
    )
    print(
        f"CSV batch            : {csv_answer['created']:,} created in {csv_s:.3f}s = "
        f"{BATCH / csv_s:,.0f} events/s"
    )
    with tenant_scope(tenant):
        MaterialView.objects.filter(tenant=tenant).delete()
    if os.environ.get("CELERY_BROKER_URL"):
        from pse_crm.celery import app

        app.control.purge()  # the deal-signal tasks the batches enqueued (no worker runs here)


if __name__ == "__main__":
    main()
