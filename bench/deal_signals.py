"""Deal signals: time from a 10,000-view ingestion request to its signals existing.

Runs the real path on PostgreSQL: a gunicorn server on loopback receives
``POST /api/v1/material-views/`` (10,000 JSON events, one API key), the ingestion commits,
``material_views_ingested`` enqueues the evaluation on Redis, a real Celery worker
evaluates the affected reps and stores the signals. The clock stops at the newest
signal's ``created_at``.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pse_h6_bench \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/6 \\
    .venv/bin/python bench/deal_signals.py [--reps 50000] [--history-views 500000] [--runs 3]

The first run builds the data set (one tenant, 500 partners, ``--reps`` reps, 120
materials, ``--history-views`` views over 180 days, deals for one rep in five) with
set-based SQL; later runs reuse it. Each run removes the previous run's batch and signals
first. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pse_crm.settings.local")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/pse_h6_bench")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/6")
os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false"

TENANT_SLUG = "bench-signals"
BATCH_PREFIX = "bench-batch-"
PORT = int(os.environ.get("BENCH_PORT", "8765"))


def _ensure_database() -> None:
    import psycopg

    url = os.environ["DATABASE_URL"]
    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def _setup_django() -> None:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def _build(tenant, *, reps: int, history_views: int) -> None:
    """The data set, set-based: a few INSERT … SELECT generate_series statements."""
    from django.db import connection, transaction

    t = time.perf_counter()
    now = dt.datetime.now(dt.UTC)
    with transaction.atomic(), connection.cursor() as cur:
        tid = tenant.pk
        cur.execute(
            """
            INSERT INTO partners_partner (tenant_id, name, external_id, partner_type,
                program_tier, status, notes, created_at, updated_at)
            SELECT %s, 'Bench partner ' || g, '', 'reseller', 'registered', 'active', '',
                   %s, %s
            FROM generate_series(1, 500) g
            """,
            [tid, now, now],
        )
        cur.execute(
            """
            INSERT INTO reps_rep (tenant_id, partner_id, name, email, external_id,
                salesforce_user_id, title, hire_type, influence, is_employed, notes,
                created_at, updated_at)
            SELECT %(t)s, p.id, 'Bench rep ' || g, '', 'bench-rep-' || g, '', '', 'unknown',
                   'mid', true, '', %(now)s, %(now)s
            FROM generate_series(1, %(reps)s) g
            JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS i
                  FROM partners_partner WHERE tenant_id = %(t)s) p
              ON p.i = (g %% 500)
            """,
            {"t": tid, "now": now, "reps": reps},
        )
        cur.execute(
            """
            INSERT INTO activities_material (tenant_id, title, kind, product, external_id, url,
                created_at, updated_at)
            SELECT %s, 'Bench material ' || g,
                   (ARRAY['deck','case_study','video','whitepaper','training','deck',
                          'price_sheet','quote_template','contract','deck'])[1 + g %% 10],
                   '', 'bench-mat-' || g, '', %s, %s
            FROM generate_series(1, 120) g
            """,
            [tid, now, now],
        )
        # History: skewed toward a minority of reps (most reps never read anything).
        cur.execute(
            """
            INSERT INTO activities_materialview (tenant_id, rep_id, material_id, viewed_at,
                duration_seconds, source, event_id, ingested_at)
            SELECT %(t)s, r.id, m.id,
                   %(now)s - (random() * interval '180 days'), 60, 'bench',
                   'bench-hist-' || x.g, %(now)s
            FROM (SELECT g, floor(power(random(), 3) * %(reps)s)::int AS k
                  FROM generate_series(1, %(n)s) g) x
            JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS i
                  FROM reps_rep WHERE tenant_id = %(t)s) r ON r.i = x.k
            JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS i
                  FROM activities_material WHERE tenant_id = %(t)s) m ON m.i = x.g %% 120
            """,
            {"t": tid, "now": now, "n": history_views, "reps": reps},
        )
        cur.execute(
            """
            INSERT INTO activities_deal (tenant_id, sf_id, name, partner_id, rep_id, amount,
                currency, stage, is_closed, is_won, close_date, sf_created_at,
                system_modstamp, is_deleted, raw_partner_key, raw_rep_key, created_at,
                updated_at)
            SELECT %(t)s, lpad('006B' || r.id, 18, '0'), 'Bench deal ' || r.id, r.partner_id,
                   r.id, 1000000, 'JPY', 'Prospecting', (r.id %% 2 = 0), (r.id %% 4 = 0),
                   (%(now)s - interval '20 days')::date, %(now)s - interval '60 days',
                   %(now)s, false, '', '', %(now)s, %(now)s
            FROM reps_rep r WHERE r.tenant_id = %(t)s AND r.id %% 5 = 0
            """,
            {"t": tid, "now": now},
        )
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    print(f"built the data set in {time.perf_counter() - t:.1f} s")


def _tenant(*, reps: int, history_views: int):
    from pse_crm.models import Tenant
    from pse_crm.tenancy import tenant_scope
    from reps.models import Rep

    tenant, _ = Tenant.objects.get_or_create(slug=TENANT_SLUG, defaults={"name": "Bench"})
    with tenant_scope(tenant):
        have = Rep.objects.count()
    if have == 0:
        _build(tenant, reps=reps, history_views=history_views)
    elif have != reps:
        print(f"note: the bench tenant already holds {have:,} reps; reusing them")
    _owners(tenant)
    return tenant


def _owners(tenant, count: int = 20) -> None:
    """Partner-success staff owning the partners, reading a daily digest (no mail storm)."""
    from deal_signals.models import NotificationPreference
    from partners.models import Partner
    from pse_crm.models import Membership, User
    from pse_crm.tenancy import tenant_scope

    with tenant_scope(tenant):
        users = []
        for i in range(count):
            user, _ = User.objects.get_or_create(email=f"owner{i}@bench.example")
            Membership.objects.get_or_create(tenant=tenant, user=user, defaults={"role": "staff"})
            NotificationPreference.objects.update_or_create(
                tenant=tenant, user=user, defaults={"email": "digest"}
            )
            users.append(user)
        for i, pk in enumerate(Partner.objects.order_by("pk").values_list("pk", flat=True)):
            Partner.objects.filter(pk=pk, owner__isnull=True).update(owner=users[i % count])


def _reset(tenant) -> None:
    from django.db import connection

    with connection.cursor() as cur:
        for table in (
            "enablement_notification",
            "enablement_dealsignalview",
            "enablement_dealsignal",
        ):
            cur.execute(f"DELETE FROM {table} WHERE tenant_id = %s", [tenant.pk])
        cur.execute(
            "DELETE FROM activities_materialview WHERE tenant_id = %s AND event_id LIKE %s",
            [tenant.pk, BATCH_PREFIX + "%"],
        )
        # The steady state of a live database, not the bench's churn: without this the
        # deleted rows of earlier runs (hundreds of thousands) slow every index insert.
        cur.execute(
            "VACUUM (ANALYZE) enablement_notification, enablement_dealsignalview,"
            " enablement_dealsignal, activities_materialview"
        )


def _batch(tenant, *, views: int, run: int) -> tuple[list[dict], int]:
    """``views`` events: four per rep within the last six hours, one in ten late-stage."""
    from pse_crm.tenancy import tenant_scope
    from reps.models import Rep

    with tenant_scope(tenant):
        ext = list(Rep.objects.order_by("pk").values_list("external_id", flat=True))
    rng = random.Random(run)
    chosen = rng.sample(ext, views // 4)
    now = dt.datetime.now(dt.UTC)
    events = []
    for i, rep in enumerate(chosen):
        for j in range(4):
            events.append(
                {
                    "event_id": f"{BATCH_PREFIX}{run}-{i}-{j}",
                    "rep_external_id": rep,
                    "material_external_id": f"bench-mat-{rng.randint(1, 120)}",
                    "viewed_at": (now - dt.timedelta(minutes=rng.randint(1, 360))).isoformat(),
                    "duration_seconds": 45,
                }
            )
    return events, len(chosen)


PHASES_KEY = "bench:deal_signals:phases"


def _worker_main(argv: list[str]) -> None:
    """The Celery worker, with the evaluation task's received/started/finished wall-clock
    times pushed to Redis (``PHASES_KEY``) so the bench can split the latency."""
    import django

    django.setup()
    import redis
    from celery.signals import task_postrun, task_prerun, task_received

    from pse_crm.celery import app

    stamps = redis.Redis.from_url(os.environ["CELERY_BROKER_URL"])
    name = "deal_signals.tasks.deal_signals_evaluate"

    def push(event: str, task_name: str) -> None:
        if task_name == name:
            stamps.rpush(PHASES_KEY, json.dumps([event, time.time()]))

    task_received.connect(lambda request, **kw: push("received", request.name), weak=False)
    task_prerun.connect(lambda task, **kw: push("started", task.name), weak=False)
    task_postrun.connect(lambda task, **kw: push("finished", task.name), weak=False)
    app.worker_main(argv)


def _start(cmd: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 (loopback)
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"the server did not answer at {url}")


def _measure(tenant, key: str, *, views: int, run: int) -> dict:
    from django.db.models import Count, Max

    from deal_signals.models import DealSignal, Notification
    from pse_crm.celery import app
    from pse_crm.tenancy import tenant_scope

    _reset(tenant)
    events, rep_count = _batch(tenant, views=views, run=run)
    body = json.dumps(events).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{PORT}/api/v1/material-views/",
        data=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
        method="POST",
    )
    with app.connection_for_write() as conn:
        conn.default_channel.client.delete(PHASES_KEY)
    started = dt.datetime.now(dt.UTC)
    wall0 = time.time()
    t0 = time.perf_counter()
    with urllib.request.urlopen(request, timeout=300) as response:  # noqa: S310
        result = json.loads(response.read())
    answered = time.perf_counter() - t0
    # Done when the ingest queue is empty and the count has not moved for a second.
    last, stable_since, visible_s = -1, time.monotonic(), 0.0
    while True:
        with tenant_scope(tenant):
            count = DealSignal.objects.filter(created_at__gte=started).count()
        with app.connection_for_read() as conn:
            queued = conn.default_channel.client.llen("ingest")
        if count != last:
            last, stable_since = count, time.monotonic()
            visible_s = time.perf_counter() - t0  # committed and readable from here on
        elif count > 0 and queued == 0 and time.monotonic() - stable_since > 1.0:
            break
        if time.perf_counter() - t0 > 300:
            raise SystemExit("no signals within 5 minutes")
        time.sleep(0.05)
    with tenant_scope(tenant):
        qs = DealSignal.objects.filter(created_at__gte=started)
        newest = qs.aggregate(m=Max("created_at"))["m"]
        by_kind = dict(qs.values_list("kind").annotate(n=Count("pk")).order_by("kind"))
        notes = Notification.objects.filter(created_at__gte=started).count()
    with app.connection_for_read() as conn:
        raw = conn.default_channel.client.lrange(PHASES_KEY, 0, -1)
    phases: dict[str, float] = {}
    for item in raw:
        event, at = json.loads(item)
        phases.setdefault(event, at - wall0)  # the first evaluation of the batch
    return {
        "phases": phases,
        "created": result["created"],
        "reps": rep_count,
        "answered_s": answered,
        "created_s": (newest - started).total_seconds(),
        "signals_s": visible_s,
        "signals": count,
        "by_kind": by_kind,
        "notifications": notes,
    }


def _delete_signals(tenant) -> None:
    from django.db import connection

    tables = ("enablement_notification", "enablement_dealsignalview", "enablement_dealsignal")
    with connection.cursor() as cur:
        for table in tables:
            cur.execute(f"DELETE FROM {table} WHERE tenant_id = %s", [tenant.pk])
        cur.execute(f"VACUUM (ANALYZE) {', '.join(tables)}")


def _store_floor(tenant, signals: list[tuple], links: list[tuple], notes: list[tuple]) -> float:
    """The floor: storing a known result (the same signals, links and notifications, with
    the same constraints, indexes and foreign keys) in one transaction, from arrays."""
    from django.db import connection, transaction

    cols = (
        "rep_id, partner_id, kind, status, view_count, first_viewed_at, last_viewed_at,"
        " has_open_deal, created_at, expires_at, dismiss_reason"
    )
    types = "bigint, bigint, text, text, int, timestamptz, timestamptz, bool, timestamptz,"
    types += " timestamptz, text"
    arrays = ", ".join(f"%s::{t.strip()}[]" for t in types.split(","))
    t = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            f"INSERT INTO enablement_dealsignal (tenant_id, {cols})"
            f" SELECT %s, * FROM unnest({arrays}) RETURNING id",
            [tenant.pk, *map(list, zip(*(s[1:] for s in signals), strict=True))],
        )
        new_ids = dict(zip((s[0] for s in signals), (r[0] for r in cur.fetchall()), strict=True))
        cur.execute(
            "INSERT INTO enablement_dealsignalview (tenant_id, signal_id, view_id, kind)"
            " SELECT %s, * FROM unnest(%s::bigint[], %s::bigint[], %s::text[])",
            [
                tenant.pk,
                [new_ids[x[0]] for x in links],
                [x[1] for x in links],
                [x[2] for x in links],
            ],
        )
        cur.execute(
            "INSERT INTO enablement_notification (tenant_id, signal_id, user_id, created_at)"
            " SELECT %s, *, now() FROM unnest(%s::bigint[], %s::bigint[])",
            [tenant.pk, [new_ids[x[0]] for x in notes], [x[1] for x in notes]],
        )
    return time.perf_counter() - t


def _in_process(tenant, *, views: int, run: int) -> dict:
    """The evaluation alone (service call, no queue), three ways on one batch: the
    set-based statement (what runs), the Python rules (the previous evaluation, which
    SQLite still uses) and the floor (storing the same result from arrays)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from activities.services.material_views import material_views_ingest
    from activities.signals import material_views_ingested
    from deal_signals.services import signals as service
    from pse_crm.tenancy import tenant_scope

    _reset(tenant)
    events, _ = _batch(tenant, views=views, run=run)
    receivers = material_views_ingested.receivers
    material_views_ingested.receivers = []  # ingest without waking the worker
    try:
        result = material_views_ingest(tenant=tenant, rows=list(enumerate(events)), source="bench")
    finally:
        material_views_ingested.receivers = receivers
    out: dict = {}
    with tenant_scope(tenant), CaptureQueriesContext(connection) as queries:
        t = time.perf_counter()
        created = service.deal_signals_evaluate(tenant=tenant, rep_ids=result.rep_ids)
        out["sql_s"] = time.perf_counter() - t
    out["queries"], out["signals"] = len(queries), len(created)
    with connection.cursor() as cur:
        cur.execute(
            "SELECT id, rep_id, partner_id, kind, status, view_count, first_viewed_at,"
            " last_viewed_at, has_open_deal, created_at, expires_at, dismiss_reason"
            " FROM enablement_dealsignal WHERE tenant_id = %s ORDER BY id",
            [tenant.pk],
        )
        signals = cur.fetchall()
        cur.execute(
            "SELECT signal_id, view_id, kind FROM enablement_dealsignalview WHERE tenant_id = %s",
            [tenant.pk],
        )
        links = cur.fetchall()
        cur.execute(
            "SELECT signal_id, user_id FROM enablement_notification WHERE tenant_id = %s",
            [tenant.pk],
        )
        notes = cur.fetchall()
    _delete_signals(tenant)
    raise_sql = service.signals_raise
    service.signals_raise = service._evaluate_in_python  # the Python rules on PostgreSQL
    try:
        with tenant_scope(tenant):
            t = time.perf_counter()
            again = service.deal_signals_evaluate(tenant=tenant, rep_ids=result.rep_ids)
            out["python_s"] = time.perf_counter() - t
    finally:
        service.signals_raise = raise_sql
    assert len(again) == len(created), (len(again), len(created))
    _delete_signals(tenant)
    out["floor_s"] = _store_floor(tenant, signals, links, notes)
    out["rows"] = (len(signals), len(links), len(notes))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=50_000)
    parser.add_argument("--history-views", type=int, default=500_000)
    parser.add_argument("--views", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    _ensure_database()
    _setup_django()
    from pse_crm.models import TenantAPIKey
    from pse_crm.tenancy import tenant_scope
    from reps.models import Rep

    tenant = _tenant(reps=args.reps, history_views=args.history_views)
    with tenant_scope(tenant):
        print(f"tenant {TENANT_SLUG}: {Rep.objects.count():,} reps")
    _, key = TenantAPIKey.objects.create_key(tenant=tenant, name="bench")

    env = {**os.environ, "CELERY_TASK_ALWAYS_EAGER": "false", "DEBUG": "false"}
    py = sys.executable
    worker = _start(
        [py, str(Path(__file__).resolve()), "--as-worker", "worker", "-Q", "ingest,notify",
         "--pool=solo", "-l", "warning", "-n", f"bench-{os.getpid()}@localhost",
         "--without-gossip", "--without-mingle"],
        env,
    )  # fmt: skip
    server = _start(
        [py, "-m", "gunicorn", "pse_crm.wsgi", "-b", f"127.0.0.1:{PORT}", "-w", "2",
         "--timeout", "300", "--log-level", "warning"],
        env,
    )  # fmt: skip
    try:
        _wait_http(f"http://127.0.0.1:{PORT}/health/")
        from pse_crm.celery import app

        deadline = time.monotonic() + 60
        while not app.control.ping(timeout=0.5):
            if time.monotonic() > deadline:
                raise SystemExit("the worker did not answer")
        runs = [_measure(tenant, key, views=args.views, run=i) for i in range(args.runs)]
    finally:
        _stop(server)
        _stop(worker)
    for i, r in enumerate(runs):
        a = r["answered_s"]
        print(
            f"run {i + 1}: {r['created']:,} views for {r['reps']:,} reps; API answered in "
            f"{r['answered_s']:.2f} s; {r['signals']:,} signals exist "
            f"(committed, visible) {r['signals_s']:.2f} s after the request "
            f"(last created at {r['created_s']:.2f} s), "
            f"{r['signals_s'] - r['answered_s']:.2f} s after the answer {r['by_kind']}, "
            f"{r['notifications']:,} notifications"
        )
        p = r["phases"]
        if {"received", "started", "finished"} <= p.keys():
            print(
                f"  phases from the answer: worker received the task {p['received'] - a:+.3f} s,"
                f" started {p['started'] - a:+.3f} s, finished (committed)"
                f" {p['finished'] - a:+.3f} s; evaluation {p['finished'] - p['started']:.3f} s;"
                f" seen by the poll {r['signals_s'] - a:+.3f} s"
            )
    print(
        f"median request → signals: {statistics.median(r['signals_s'] for r in runs):.2f} s "
        f"(API answer {statistics.median(r['answered_s'] for r in runs):.2f} s)"
    )
    print(
        "median answer → signals: "
        f"{statistics.median(r['signals_s'] - r['answered_s'] for r in runs):.2f} s (goal <= 3 s)"
    )
    rounds = [_in_process(tenant, views=args.views, run=args.runs + i) for i in range(args.runs)]
    for i, r in enumerate(rounds):
        print(
            f"in process {i + 1}: {r['signals']:,} signals; statement {r['sql_s']:.2f} s "
            f"({r['queries']} queries), Python rules {r['python_s']:.2f} s, floor (storing the "
            f"same {r['rows'][0]:,} signals, {r['rows'][1]:,} views, {r['rows'][2]:,} "
            f"notifications) {r['floor_s']:.2f} s"
        )
    med = {k: statistics.median(r[k] for r in rounds) for k in ("sql_s", "python_s", "floor_s")}
    print(
        f"evaluation alone (in process, median of {len(rounds)}): {med['sql_s']:.2f} s = "
        f"{med['sql_s'] / med['floor_s']:.2f}x the floor ({med['floor_s']:.2f} s); the Python "
        f"rules {med['python_s']:.2f} s = {med['python_s'] / med['floor_s']:.2f}x"
    )
    _reset(tenant)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--as-worker"]:
        _worker_main(sys.argv[2:])
    else:
        main()
