"""Benchmark ``POST /api/v1/deals/sync/`` over real HTTP against a plain psycopg upsert.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pse_bench \\
        .venv/bin/python bench/api_sync.py [--records 10000] [--rounds 3]

PostgreSQL only. The database is created and migrated if needed; the tenant
``bench-sync`` gets 200 partners and 2,000 reps (Salesforce ids) once. A gunicorn server
(this checkout, DEBUG off) is started on 127.0.0.1 and a free port and stopped at the end.

One run times, for ``--records`` Salesforce Opportunity records in one request, shaped as a
Salesforce REST query response (``attributes``, 15-character ids, ``+0000`` times):

1. ``new``: every record new (the tenant's deals are deleted first);
2. ``replay``: the same body again (every record unchanged);
3. ``update``: every record with a newer ``SystemModstamp`` (every record updated);

and, in the same run, the same rows (already parsed, ids already 18 characters, partner
and rep ids already resolved) through a plain psycopg ``executemany`` of
``INSERT … ON CONFLICT (tenant_id, sf_id) DO UPDATE … WHERE older`` into the same table
for a second tenant: the floor for writing these rows. Each figure is the best of
``--rounds``. Figures, not assertions.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
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

import psycopg  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from activities.models import Deal  # noqa: E402
from bench._api_server import bench_key, post_ok, running_server, sales_world_seed  # noqa: E402
from partners.models import Partner  # noqa: E402
from pse_crm.models import Tenant  # noqa: E402
from pse_crm.sfid import to_18  # noqa: E402
from pse_crm.tenancy import tenant_scope  # noqa: E402
from reps.models import Rep  # noqa: E402

SLUG = "bench-sync"
BASELINE_SLUG = "bench-sync-baseline"
PARTNERS = 200
REPS = 2000


def conninfo(dbname: str | None = None) -> str:
    s = connection.settings_dict
    return psycopg.conninfo.make_conninfo(
        dbname=dbname or s["NAME"],
        user=s["USER"] or "postgres",
        password=s["PASSWORD"] or None,
        host=s["HOST"] or "127.0.0.1",
        port=s["PORT"] or 5432,
    )


def ensure_database() -> None:
    if connection.vendor != "postgresql":
        sys.exit("bench/api_sync.py needs PostgreSQL (DATABASE_URL=postgres://…)")
    name = connection.settings_dict["NAME"]
    with psycopg.connect(conninfo("postgres"), autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            admin.execute(f'CREATE DATABASE "{name}"')
    call_command("migrate", verbosity=0)


def ensure_world() -> tuple[Tenant, Tenant, str]:
    tenant, _ = Tenant.objects.get_or_create(slug=SLUG, defaults={"name": "Bench Sync KK"})
    baseline, _ = Tenant.objects.get_or_create(
        slug=BASELINE_SLUG, defaults={"name": "Bench Sync Baseline KK"}
    )
    for t in (tenant, baseline):
        sales_world_seed(t, partners=PARTNERS, reps=REPS)
    key = bench_key(tenant)
    return tenant, baseline, key


def sf_time(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def records(n: int, *, modstamp: dt.datetime) -> list[dict]:
    rng = random.Random(4)
    stages = [
        "Prospecting",
        "Qualification",
        "Proposal",
        "Negotiation",
        "Closed Won",
        "Closed Lost",
    ]
    out = []
    for i in range(n):
        opp = f"006A0000{i:07d}"
        stage = rng.choice(stages)
        out.append(
            {
                "attributes": {
                    "type": "Opportunity",
                    "url": f"/services/data/v60.0/sobjects/Opportunity/{to_18(opp)}",
                },
                "Id": opp,
                "Name": f"Opportunity {i}",
                "Amount": round(rng.uniform(1e5, 5e7), 2),
                "StageName": stage,
                "CloseDate": (
                    dt.date(2026, 1, 1) + dt.timedelta(days=rng.randrange(365))
                ).isoformat(),
                "IsClosed": stage.startswith("Closed"),
                "IsWon": stage == "Closed Won",
                "IsDeleted": False,
                "CreatedDate": sf_time(modstamp - dt.timedelta(days=30)),
                "LastModifiedDate": sf_time(modstamp),
                "SystemModstamp": sf_time(modstamp + dt.timedelta(seconds=i)),
                "CurrencyIsoCode": "JPY",
                "AccountId": f"001B0000{i:07d}",
                "OwnerId": f"005A0000{rng.randrange(REPS):07d}",
                "PartnerAccountId": f"001A0000{rng.randrange(PARTNERS):07d}",
            }
        )
    return out


def body(recs: list[dict]) -> bytes:
    return json.dumps(
        {
            "totalSize": len(recs),
            "done": True,
            "records": recs,
        }
    ).encode()


def baseline_rows(tenant: Tenant, recs: list[dict]) -> list[tuple]:
    with tenant_scope(tenant):
        partners = dict(Partner.objects.values_list("external_id", "pk"))
        reps = dict(Rep.objects.values_list("salesforce_user_id", "pk"))
    now = dt.datetime.now(dt.UTC)
    rows = []
    for r in recs:
        rows.append(
            (
                tenant.pk,
                to_18(r["Id"]),
                r["Name"],
                partners.get(to_18(r["PartnerAccountId"])),
                reps.get(to_18(r["OwnerId"])),
                r["Amount"],
                r["CurrencyIsoCode"],
                r["StageName"],
                r["IsClosed"],
                r["IsWon"],
                dt.date.fromisoformat(r["CloseDate"]),
                dt.datetime.fromisoformat(r["CreatedDate"]),
                dt.datetime.fromisoformat(r["LastModifiedDate"]),
                dt.datetime.fromisoformat(r["SystemModstamp"]),
                r["IsDeleted"],
                to_18(r["PartnerAccountId"]),
                to_18(r["OwnerId"]),
                now,
                now,
            )
        )
    return rows


BASELINE_SQL = """
INSERT INTO activities_deal (tenant_id, sf_id, name, partner_id, rep_id, amount, currency,
    stage, is_closed, is_won, close_date, sf_created_at, sf_last_modified_at, system_modstamp,
    is_deleted, raw_partner_key, raw_rep_key, created_at, updated_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (tenant_id, sf_id) DO UPDATE SET name = EXCLUDED.name,
    partner_id = EXCLUDED.partner_id, rep_id = EXCLUDED.rep_id, amount = EXCLUDED.amount,
    currency = EXCLUDED.currency, stage = EXCLUDED.stage, is_closed = EXCLUDED.is_closed,
    is_won = EXCLUDED.is_won, close_date = EXCLUDED.close_date,
    sf_created_at = EXCLUDED.sf_created_at, sf_last_modified_at = EXCLUDED.sf_last_modified_at,
    system_modstamp = EXCLUDED.system_modstamp, is_deleted = EXCLUDED.is_deleted,
    raw_partner_key = EXCLUDED.raw_partner_key, raw_rep_key = EXCLUDED.raw_rep_key,
    updated_at = EXCLUDED.updated_at
WHERE activities_deal.system_modstamp < EXCLUDED.system_modstamp
"""


def baseline(tenant: Tenant, rows: list[tuple]) -> float:
    with psycopg.connect(conninfo()) as conn:
        # The bench connects as the table owner: lift the tenant wall like a migration would.
        conn.execute("SELECT set_config('app.all_tenants', 'on', false)")
        started = time.perf_counter()
        with conn.cursor() as cur:
            cur.executemany(BASELINE_SQL, rows)
        conn.commit()
        return time.perf_counter() - started


COLUMNS = (
    "tenant_id, sf_id, name, partner_id, rep_id, amount, currency, stage, is_closed, is_won, "
    "close_date, sf_created_at, sf_last_modified_at, system_modstamp, is_deleted, "
    "raw_partner_key, raw_rep_key, created_at, updated_at"
)


def baseline_copy(tenant: Tenant, rows: list[tuple]) -> float:
    """The same upsert, staged with COPY (the fastest plain-psycopg way to move the rows)."""
    with psycopg.connect(conninfo()) as conn:
        conn.execute("SELECT set_config('app.all_tenants', 'on', false)")
        started = time.perf_counter()
        with conn.cursor() as cur:
            cur.execute(
                "CREATE TEMP TABLE stage (LIKE activities_deal INCLUDING DEFAULTS) ON COMMIT DROP"
            )
            cur.execute("ALTER TABLE stage ALTER COLUMN id DROP NOT NULL")
            with cur.copy(f"COPY stage ({COLUMNS}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cur.execute(
                BASELINE_SQL.replace(
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    f"SELECT {COLUMNS} FROM stage",
                )
            )
        conn.commit()
        return time.perf_counter() - started


def delete_deals(tenant: Tenant) -> None:
    with tenant_scope(tenant):
        Deal.objects.filter(tenant=tenant).delete()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    ensure_database()
    tenant, base_tenant, key = ensure_world()
    t0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    first = records(args.records, modstamp=t0)
    newer = records(args.records, modstamp=t0 + dt.timedelta(days=1))
    first_body, newer_body = body(first), body(newer)
    base_first, base_newer = baseline_rows(base_tenant, first), baseline_rows(base_tenant, newer)

    api: dict[str, list[float]] = {"new": [], "replay": [], "update": []}
    floor: dict[str, list[float]] = {"new": [], "replay": [], "update": []}
    floor_copy: dict[str, list[float]] = {"new": [], "replay": [], "update": []}
    counts: dict[str, dict] = {}
    with running_server() as (host, port):
        for _ in range(args.rounds):
            delete_deals(tenant)
            for phase, payload in (
                ("new", first_body),
                ("replay", first_body),
                ("update", newer_body),
            ):
                answer, seconds = post_ok(
                    host,
                    port,
                    "/api/v1/deals/sync/",
                    payload,
                    key=key,
                    content_type="application/json",
                    what=phase,
                )
                api[phase].append(seconds)
                counts[phase] = answer
            delete_deals(base_tenant)
            floor["new"].append(baseline(base_tenant, base_first))
            floor["replay"].append(baseline(base_tenant, base_first))
            floor["update"].append(baseline(base_tenant, base_newer))
            delete_deals(base_tenant)
            floor_copy["new"].append(baseline_copy(base_tenant, base_first))
            floor_copy["replay"].append(baseline_copy(base_tenant, base_first))
            floor_copy["update"].append(baseline_copy(base_tenant, base_newer))

    mb = len(first_body) / 1e6
    print(
        f"deal sync: {args.records:,} Salesforce records in one request ({mb:.1f} MB JSON), "
        f"best of {args.rounds}; psycopg = executemany upsert, COPY = COPY-staged upsert"
    )
    print(
        f"{'phase':<8}{'API (HTTP)':>12}{'rows/s':>9}{'psycopg':>10}{'rows/s':>9}{'ratio':>7}"
        f"{'COPY':>9}{'ratio':>7}  answer"
    )
    for phase in ("new", "replay", "update"):
        a, b, c = min(api[phase]), min(floor[phase]), min(floor_copy[phase])
        answer = {k: v for k, v in counts[phase].items() if v and k != "watermark"}
        print(
            f"{phase:<8}{a:>11.3f}s{args.records / a:>9,.0f}{b:>9.3f}s{args.records / b:>9,.0f}"
            f"{a / b:>6.2f}x{c:>8.3f}s{a / c:>6.2f}x  {answer}"
        )
    delete_deals(tenant)
    delete_deals(base_tenant)


if __name__ == "__main__":
    main()
