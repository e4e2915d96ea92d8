"""Load test on loopback: concurrent clients against gunicorn and a real Celery worker.

    .venv/bin/python bench/load.py [--clients 50] [--duration 120] [--web-workers 4]

Builds a fresh PostgreSQL database (``--database``, default pse_bench_load), seeds one
tenant with seed_demo, starts gunicorn (several workers, DEBUG off) and a Celery worker
on Redis, then runs N client threads for the duration, each mixing:

* view ingestion  POST /api/v1/material-views/  (100 new events, API key)
* deal sync       POST /api/v1/deals/sync/      (50 deal versions, API key)
* list endpoints  GET  /api/v1/deals/, /api/v1/reps/, /api/v1/material-views/
* the dashboard   GET  /                        (a logged-in manager)

Prints requests/s, p50/p95/p99 latency per kind and overall, the error count (any
status >= 400 or a transport error), and the resident memory of the gunicorn and
Celery processes at start and end. Never a timed assertion: figures only.
Everything listens on 127.0.0.1 only; the processes started here are stopped by pid.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path

import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
PY = ROOT / ".venv" / "bin" / "python"
BIN = ROOT / ".venv" / "bin"
PASSWORD = "bench-pass-2026"  # noqa: S105 (a throwaway local database)
MIX = [("ingest", 2), ("sync", 2), ("list", 4), ("dashboard", 2)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(root_pid: int) -> int:
    """Resident memory of a process and all its descendants, in KiB."""
    pids, todo = set(), [root_pid]
    while todo:
        pid = todo.pop()
        pids.add(pid)
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                todo.extend(int(c) for c in f.read().split())
        except OSError:
            continue
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                m = re.search(r"VmRSS:\s+(\d+)", f.read())
                total += int(m.group(1)) if m else 0
        except OSError:
            pass
    return total


def manage(env, *args, capture=False) -> str:
    result = subprocess.run(
        [str(PY), "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        text=True,
        capture_output=capture,
    )
    return result.stdout if capture else ""


SETUP_SNIPPET = """
import json
from activities.models import Material
from pse_crm.models import Tenant, TenantAPIKey
from pse_crm.tenancy import tenant_scope
from reps.models import Rep
t = Tenant.objects.get(slug="bench")
_, key = TenantAPIKey.objects.create_key(tenant=t, name="bench")
with tenant_scope(t):
    reps = list(Rep.objects.exclude(email="").values_list("email", flat=True)[:500])
    mats = list(Material.objects.exclude(external_id="").values_list("external_id", flat=True))
print(json.dumps({"key": key, "reps": reps, "materials": mats}))
"""


def prepare(env, dsn_admin: str, db: str) -> dict:
    with psycopg.connect(dsn_admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{db}"')
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "create_tenant", "--slug", "bench", "--name", "Bench Vendor KK")
    manage(
        env,
        "create_user",
        "--tenant",
        "bench",
        "--email",
        "manager@bench.example",
        "--role",
        "manager",
        "--password",
        PASSWORD,
    )
    manage(
        env,
        "seed_demo",
        "--tenant",
        "bench",
        "--partners",
        "10",
        "--reps",
        "600",
        "--views",
        "20000",
        "--deals",
        "2400",
    )
    out = manage(env, "shell", "-c", SETUP_SNIPPET, capture=True)
    return json.loads(out.strip().splitlines()[-1])


class Client(threading.Thread):
    def __init__(self, n, base, data, stop_at, results, lock):
        super().__init__(daemon=True)
        self.n, self.base, self.data, self.stop_at = n, base, data, stop_at
        self.results, self.lock = results, lock
        self.rng = random.Random(n)
        self.api = requests.Session()
        self.api.headers["Authorization"] = f"Bearer {data['key']}"
        self.web = requests.Session()

    def login(self):
        page = self.web.get(f"{self.base}/login/", timeout=30)
        token = self.web.cookies.get("csrftoken") or re.search(
            r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text
        ).group(1)
        r = self.web.post(
            f"{self.base}/login/",
            data={
                "username": "manager@bench.example",
                "password": PASSWORD,
                "csrfmiddlewaretoken": token,
            },
            headers={"Referer": f"{self.base}/login/"},
            allow_redirects=False,
            timeout=30,
        )
        if r.status_code != 302:
            raise RuntimeError(f"login failed: {r.status_code}")

    def ingest(self):
        viewed = time.strftime("%Y-%m-%dT%H:%M:%S+09:00")
        events = [
            {
                "event_id": uuid.uuid4().hex,
                "viewed_at": viewed,
                "rep_email": self.rng.choice(self.data["reps"]),
                "material_external_id": self.rng.choice(self.data["materials"]),
                "duration_seconds": self.rng.randint(5, 600),
            }
            for _ in range(100)
        ]
        return self.api.post(f"{self.base}/api/v1/material-views/", json=events, timeout=60)

    def sync(self):
        now = time.time()
        deals = []
        for i in range(50):
            n = self.rng.randint(0, 4999)
            deals.append(
                {
                    "sf_id": f"006BENCH{n:07d}",
                    "system_modstamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
                    + f".{(self.n * 50 + i) % 1000:03d}+00:00",
                    "name": f"Bench deal {n}",
                    "amount": str(self.rng.randint(1, 500) * 10000),
                    "stage": self.rng.choice(["Prospecting", "Proposal", "Negotiation"]),
                }
            )
        return self.api.post(f"{self.base}/api/v1/deals/sync/", json=deals, timeout=60)

    def list(self):
        path = self.rng.choice(
            [
                "/api/v1/deals/?page_size=50",
                "/api/v1/reps/?page_size=50",
                "/api/v1/material-views/?page_size=50",
            ]
        )
        return self.api.get(f"{self.base}{path}", timeout=60)

    def dashboard(self):
        return self.web.get(f"{self.base}/", timeout=60)

    def run(self):
        try:
            self.login()
        except Exception as exc:  # counted, the client goes on with the API only
            with self.lock:
                self.results["login"].append((0.0, f"error: {exc}"))
        kinds = [k for k, w in MIX for _ in range(w)]
        while time.monotonic() < self.stop_at:
            kind = self.rng.choice(kinds)
            started = time.perf_counter()
            try:
                response = getattr(self, kind)()
                status = response.status_code
                if status >= 400:
                    with self.lock:
                        self.results["_bodies"].append((kind, status, response.text[:300]))
            except requests.RequestException as exc:
                status = f"error: {type(exc).__name__}"
            elapsed = time.perf_counter() - started
            with self.lock:
                self.results[kind].append((elapsed, status))


def pct(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=int, default=120)
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--celery-concurrency", type=int, default=2)
    parser.add_argument("--database", default="pse_bench_load")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument(
        "--broker", default=os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/7")
    )
    args = parser.parse_args()

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "pse_crm.settings.local",
        "DEBUG": "false",
        "DATABASE_URL": f"{args.pg}/{args.database}",
        "CELERY_BROKER_URL": args.broker,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "API_THROTTLE_RATE": "1000000/min",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    print(f"Preparing database {args.database} (migrate, seed_demo)…", flush=True)
    t0 = time.monotonic()
    data = prepare(env, f"{args.pg}/postgres", args.database)
    print(
        f"  ready in {time.monotonic() - t0:.0f} s: {len(data['reps'])} reps, "
        f"{len(data['materials'])} materials",
        flush=True,
    )

    port = free_port()
    procs = []
    try:
        web = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "pse_crm.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(args.web_workers),
                "--timeout",
                "120",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
        )
        procs.append(web)
        worker = subprocess.Popen(
            [
                str(BIN / "celery"),
                "-A",
                "pse_crm",
                "worker",
                "-l",
                "warning",
                "-Q",
                "default,segmentation,ingest,notify",
                "-c",
                str(args.celery_concurrency),
                "-n",
                f"bench-{os.getpid()}@localhost",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=ROOT,
            env=env,
        )
        procs.append(worker)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{base}/health/", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                sys.exit("gunicorn did not answer")
            time.sleep(0.3)
        time.sleep(3)  # let the Celery worker start its pool
        mem_start = {"gunicorn": rss_kib(web.pid), "celery": rss_kib(worker.pid)}

        results: dict[str, list] = defaultdict(list)
        lock = threading.Lock()
        print(
            f"Running {args.clients} clients for {args.duration} s against {base} "
            f"({args.web_workers} gunicorn workers, a Celery worker x{args.celery_concurrency})…",
            flush=True,
        )
        started = time.monotonic()
        stop_at = started + args.duration
        clients = [Client(n, base, data, stop_at, results, lock) for n in range(args.clients)]
        for c in clients:
            c.start()
        for c in clients:
            c.join(timeout=args.duration + 120)
        wall = time.monotonic() - started
        mem_end = {"gunicorn": rss_kib(web.pid), "celery": rss_kib(worker.pid)}
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()

    all_lat, total, errors = [], 0, 0
    print(
        f"\n{'kind':<10} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'p99 ms':>8} {'errors':>7}"
    )
    for kind, _w in [*MIX, ("login", 0)]:
        rows = results.get(kind, [])
        if not rows:
            continue
        lat = [r[0] * 1000 for r in rows if r[0]]
        errs = [r[1] for r in rows if not (isinstance(r[1], int) and r[1] < 400)]
        all_lat += lat
        total += len(rows)
        errors += len(errs)
        print(
            f"{kind:<10} {len(rows):>9} {len(rows) / wall:>8.1f} {pct(lat, 50):>8.0f} "
            f"{pct(lat, 95):>8.0f} {pct(lat, 99):>8.0f} {len(errs):>7}"
        )
        if errs:
            print(
                f"           error statuses: {dict(sorted((str(e), errs.count(e)) for e in set(errs)))}"
            )
    print(
        f"{'all':<10} {total:>9} {total / wall:>8.1f} {pct(all_lat, 50):>8.0f} "
        f"{pct(all_lat, 95):>8.0f} {pct(all_lat, 99):>8.0f} {errors:>7}"
    )
    for kind, status, body in results.get("_bodies", [])[:3]:
        print(f"first errors: {kind} {status}: {body}")
    print(f"\nwall {wall:.0f} s; mean latency {statistics.fmean(all_lat):.0f} ms")
    for name in ("gunicorn", "celery"):
        print(
            f"memory {name:<9} start {mem_start[name] / 1024:7.1f} MiB   "
            f"end {mem_end[name] / 1024:7.1f} MiB"
        )


if __name__ == "__main__":
    main()
