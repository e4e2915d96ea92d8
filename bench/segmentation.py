"""Benchmark the keyman segmentation run against a plain per-rep aggregate (PostgreSQL).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pse_bench \\
        .venv/bin/python bench/segmentation.py [--reps 50000 --views 2000000 --deals 200000]

The first call migrates the database and generates the data set in SQL (generate_series:
a long tail of activity, the 1% problem) for the tenant ``bench-segmentation``; later
calls reuse it (``--regenerate`` rebuilds it). ``--tenant SLUG`` benchmarks an existing
tenant instead. The demo generator's data set of the same size is read another way:

    manage.py create_tenant --slug demo --name Demo
    manage.py seed_demo --tenant demo --partners 300 --reps 50000 --views 2000000
    bench/segmentation.py --tenant demo

Its views crowd into recent weeks (1.5M of the 2M fall inside the 90-day window, against
about 0.5M here) on fewer reps (8,400 with a recent view, against 48,700). There the run
reads the views' roll-ups (about 0.4M rep-days and 0.25M rep-material pairs) rather than
the views; the baseline still reads every view in the window. Here the views spread
thinly (1.3M rep-material pairs for 0.5M views in the window), so the run reads the
window's views directly. The roll-ups are kept by triggers: the data generated here
fills them as it is inserted.

After one untimed call of each (both warm), it alternates, ``--repeat`` times: the
baseline, one plain SQL aggregate of views (in the 90-day window) and won amounts (in the
365-day window) per rep, fetched; and a full ``segmentation_run`` including writing every
rep and partner segment, the statistics and the flip to current. It prints both medians
and their ratio, and the ratio of the best of each (on a shared machine the runs vary by
±20% from one to the next). Figures, not assertions.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pse_crm.settings.local")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from activities.models import (  # noqa: E402
    Deal,
    Material,
    MaterialView,
    RepMaterialSpan,
    RepViewDay,
)
from activities.services.rollups import view_rollups_fold  # noqa: E402
from partners.models import Partner  # noqa: E402
from pse_crm.models import Tenant  # noqa: E402
from pse_crm.tenancy import tenant_scope  # noqa: E402
from reps.models import Rep  # noqa: E402
from segmentation.models import PartnerSegment, RepSegment, SegmentationRun  # noqa: E402
from segmentation.services.runs import segmentation_run  # noqa: E402

BENCH_SLUG = "bench-segmentation"


def _insert_select(model, exprs: dict[str, str], from_sql: str) -> None:
    """``INSERT INTO model (every column) SELECT …``: ``exprs`` gives SQL per field name;
    other columns take the model's default (so a field added later needs no change here)."""
    columns, values, params = [], [], []
    for field in model._meta.concrete_fields:
        if field.primary_key or field.generated:
            continue
        columns.append(connection.ops.quote_name(field.column))
        if field.name in exprs:
            values.append(exprs[field.name])
        elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            values.append("now()")
        elif field.null and not field.has_default():
            values.append("NULL")
        elif field.has_default() or field.empty_strings_allowed:
            # The default, or "" for a text field without one (what a form would save).
            values.append("%s")
            params.append(field.get_db_prep_save(field.get_default(), connection))
        else:
            raise RuntimeError(f"bench: no value for {model.__name__}.{field.name}")
    sql = (
        f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) "
        f"SELECT {', '.join(values)} {from_sql}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def generate(tenant: Tenant, *, partners: int, reps: int, views: int, deals: int) -> None:
    t = int(tenant.pk)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for model in (SegmentationRun, MaterialView, Deal, Rep, Material, Partner):
            if model is SegmentationRun:
                for table in ("enablement_repsegment", "enablement_partnersegment"):
                    cursor.execute(f"DELETE FROM {table} WHERE tenant_id = %s", [t])
            cursor.execute(f"DELETE FROM {model._meta.db_table} WHERE tenant_id = %s", [t])
    _insert_select(
        Partner,
        {"tenant": str(t), "name": "'Bench partner ' || g", "external_id": "''"},
        f"FROM generate_series(1, {partners}) g",
    )
    # Reps spread over partners of very different sizes (k^1.5 skew); 2% have left.
    _insert_select(
        Rep,
        {
            "tenant": str(t),
            "partner": "p.id",
            "name": "'Bench rep ' || g",
            "email": "'rep' || g || '@bench.example'",
            "external_id": "'bench-rep-' || g",
            "is_employed": "(g %% 50) <> 0",
        },
        f"""FROM generate_series(1, {reps}) g
        JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k
              FROM {Partner._meta.db_table} WHERE tenant_id = {t}) p
          ON p.k = floor({partners} * power(((g * 7919) %% {reps})::float / {reps}, 1.5))::int""",
    )
    _insert_select(
        Material,
        {"tenant": str(t), "title": "'Material ' || g", "external_id": "'bench-mat-' || g"},
        "FROM generate_series(1, 200) g",
    )
    rep_ids = f"""(SELECT id, row_number() OVER (ORDER BY id) - 1 AS k
                   FROM {Rep._meta.db_table} WHERE tenant_id = {t})"""
    mat_ids = f"""(SELECT id, row_number() OVER (ORDER BY id) - 1 AS k
                   FROM {Material._meta.db_table} WHERE tenant_id = {t})"""
    # Views: a steep long tail (random()^4): a few reps read a lot, most never.
    _insert_select(
        MaterialView,
        {
            "tenant": str(t),
            "rep": "r.id",
            "material": "m.id",
            "viewed_at": "now() - (random() * 365) * interval '1 day'",
            "event_id": "'bench-' || g",
            "source": "'bench'",
        },
        f"""FROM (SELECT g, floor({reps} * power(random(), 4))::int AS rk,
                         floor(200 * random())::int AS mk
                  FROM generate_series(1, {views}) g) s
        JOIN {rep_ids} r ON r.k = s.rk
        JOIN {mat_ids} m ON m.k = s.mk""",
    )
    # Deals: skewed towards the same reps; 30% won, 40% lost, 30% open, 1% deleted.
    _insert_select(
        Deal,
        {
            "tenant": str(t),
            "sf_id": "'006' || lpad(g::text, 15, '0')",
            "name": "'Bench deal ' || g",
            "partner": "r.partner_id",
            "rep": "r.id",
            # Amounts to the cent; about 1% are credit notes (negative): a run must be
            # exact to the cent and must not assume that amounts are positive.
            "amount": "round(((CASE WHEN g %% 97 = 0 THEN -1 ELSE 1 END)"
            " * (100000 + random() * 4900000))::numeric, 2)",
            "stage": "CASE WHEN s.u < 0.3 THEN 'Closed Won' WHEN s.u < 0.7 THEN 'Closed Lost'"
            " ELSE 'Proposal' END",
            "is_closed": "s.u < 0.7",
            "is_won": "s.u < 0.3",
            "close_date": "(now() - (random() * 400) * interval '1 day')::date",
            "system_modstamp": "now()",
            "is_deleted": "(g %% 100) = 0",
        },
        f"""FROM (SELECT g, random() AS u, floor({reps} * power(random(), 2))::int AS rk
                  FROM generate_series(1, {deals}) g) s
        JOIN (SELECT rr.id, rr.partner_id, row_number() OVER (ORDER BY rr.id) - 1 AS k
              FROM {Rep._meta.db_table} rr WHERE rr.tenant_id = {t}) r ON r.k = s.rk""",
    )
    # The views into their roll-ups, as beat would have folded them by the next run.
    view_rollups_fold(tenant=tenant)
    with connection.cursor() as cursor:
        for model in (Partner, Rep, Material, MaterialView, RepViewDay, RepMaterialSpan, Deal):
            cursor.execute(f"ANALYZE {model._meta.db_table}")
    print(f"generated in {time.perf_counter() - started:.1f} s")


def baseline(tenant: Tenant, as_of: dt.datetime) -> tuple[float, int]:
    """One plain SQL aggregate: views and won amounts per rep, fetched."""
    sql = f"""
    SELECT r.id, COALESCE(v.views, 0), COALESCE(d.won, 0)
    FROM {Rep._meta.db_table} r
    LEFT JOIN (
        SELECT rep_id, COUNT(*) AS views FROM {MaterialView._meta.db_table}
        WHERE tenant_id = %(t)s AND viewed_at > %(vfrom)s AND viewed_at <= %(as_of)s
        GROUP BY rep_id
    ) v ON v.rep_id = r.id
    LEFT JOIN (
        SELECT rep_id, SUM(amount_corporate) AS won FROM {Deal._meta.db_table}
        WHERE tenant_id = %(t)s AND is_won AND NOT is_deleted
          AND close_date > %(dfrom)s AND close_date <= %(day)s
        GROUP BY rep_id
    ) d ON d.rep_id = r.id
    WHERE r.tenant_id = %(t)s
    """
    day = timezone.localtime(as_of, tenant.tzinfo).date()
    params = {
        "t": tenant.pk,
        "as_of": as_of,
        "vfrom": as_of - dt.timedelta(days=90),
        "day": day,
        "dfrom": day - dt.timedelta(days=365),
    }
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return time.perf_counter() - started, len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenant", help="benchmark this existing tenant (no generation)")
    parser.add_argument("--partners", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=50_000)
    parser.add_argument("--views", type=int, default=2_000_000)
    parser.add_argument("--deals", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--regenerate", action="store_true")
    args = parser.parse_args()

    if connection.vendor != "postgresql":
        sys.exit("bench/segmentation.py needs PostgreSQL (set DATABASE_URL).")
    call_command("migrate", verbosity=0)
    if args.tenant:
        tenant = Tenant.objects.get(slug=args.tenant)
    else:
        tenant, _ = Tenant.objects.get_or_create(
            slug=BENCH_SLUG, defaults={"name": "Segmentation benchmark"}
        )
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT COUNT(*) FROM {MaterialView._meta.db_table} WHERE tenant_id = %s",
                [tenant.pk],
            )
            have = cursor.fetchone()[0]
        if args.regenerate or have != args.views:
            generate(
                tenant,
                partners=args.partners,
                reps=args.reps,
                views=args.views,
                deals=args.deals,
            )

    if not args.tenant:
        # The run sums deals in the corporate currency (amount_corporate): the generated
        # amounts are in it.
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {Deal._meta.db_table} SET amount_corporate = amount"
                " WHERE tenant_id = %s AND amount_corporate IS NULL AND amount IS NOT NULL",
                [tenant.pk],
            )
            if cursor.rowcount:
                cursor.execute(f"VACUUM ANALYZE {Deal._meta.db_table}")
    with connection.cursor() as cursor:
        counts = {}
        for label, model in (("reps", Rep), ("views", MaterialView), ("deals", Deal)):
            cursor.execute(
                f"SELECT COUNT(*) FROM {model._meta.db_table} WHERE tenant_id = %s", [tenant.pk]
            )
            counts[label] = cursor.fetchone()[0]
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
    print(
        f"PostgreSQL {version}; tenant {tenant.slug}: "
        + ", ".join(f"{v:,} {k}" for k, v in counts.items())
    )

    # The run's own tables as autovacuum keeps them: each bench call deletes its runs'
    # 50,000-row segment sets, and where autovacuum is off (as on the machine these figures
    # were taken on) the runs would otherwise write into ever more dead index entries.
    # VACUUM needs the tables' owner: run the bench as the migrating role.
    with connection.cursor() as cursor:
        for model in (RepSegment, PartnerSegment, SegmentationRun):
            cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")

    as_of = timezone.now()
    base_times, run_times = [], []
    with tenant_scope(tenant):
        # Both warm, as a nightly run would find them: one untimed baseline and one untimed
        # run (which also leaves a current run behind, so every timed run reads a previous
        # run's quadrants and tiers, as in production).
        baseline(tenant, as_of)
        warm = segmentation_run(tenant=tenant, as_of=as_of - dt.timedelta(seconds=1))
        if warm.status != SegmentationRun.Status.SUCCEEDED:
            sys.exit(f"run {warm.pk} {warm.status}: {warm.error}")
        for i in range(args.repeat):
            seconds, rows = baseline(tenant, as_of)
            base_times.append(seconds)
            started = time.perf_counter()
            run = segmentation_run(tenant=tenant, as_of=as_of + dt.timedelta(seconds=i))
            run_times.append(time.perf_counter() - started)
            if run.status != SegmentationRun.Status.SUCCEEDED:
                sys.exit(f"run {run.pk} {run.status}: {run.error}")
            print(
                f"  #{i + 1}: baseline {seconds * 1000:.0f} ms ({rows:,} rows); "
                f"segmentation_run {run_times[-1] * 1000:.0f} ms "
                f"({run.rep_count:,} reps, {run.active_rep_count:,} active, "
                f"quadrants {run.quadrant_counts})"
            )
        # Keep the bench tenant small: the history of bench runs is not needed.
        SegmentationRun.objects.filter(tenant=tenant, is_current=False).delete()
    base, full = statistics.median(base_times), statistics.median(run_times)
    print(f"baseline (plain aggregate, median): {base * 1000:.0f} ms")
    print(f"segmentation_run (full, median):    {full * 1000:.0f} ms")
    print(f"ratio: {full / base:.2f}x (goal <= 2x; and < 5 s: {full < 5})")
    print(
        f"best of {args.repeat}: baseline {min(base_times) * 1000:.0f} ms, run "
        f"{min(run_times) * 1000:.0f} ms, ratio {min(run_times) / min(base_times):.2f}x"
    )
    print(
        f"last run: Spearman rho = {run.correlation_rho:.3f}, n = {run.correlation_n:,} "
        "(correlation, not causation)"
        if run.correlation_rho is not None
        else "last run: no statistics"
    )


if __name__ == "__main__":
    main()
