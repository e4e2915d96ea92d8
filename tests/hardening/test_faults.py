"""Faults: a database connection dropped mid-batch, a Celery worker killed mid-run.

Each test breaks one real thing (a PostgreSQL backend, a worker process) and checks what
a user would notice: an error instead of half a batch, the previous results kept, the
work finished once when the system is back.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from activities.models import Deal, MaterialView
from deal_signals.models import DealSignal, SignalEvaluationBacklog
from pse_crm.celery import app as celery_app
from pse_crm.roles import Role
from pse_crm.sfid import to_18
from pse_crm.tenancy import tenant_scope
from segmentation.models import SegmentationRun
from tests.activities.factories import DealFactory, MaterialFactory, MaterialViewFactory
from tests.factories import MembershipFactory, make_api_key
from tests.partners.factories import PartnerFactory
from tests.reps.factories import RepFactory
from tests.segmentation.factories import SegmentationRunFactory


def _require_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("these faults are PostgreSQL's and a real worker's")


def _dsn() -> str:
    s = connection.settings_dict
    return (
        f"host={s['HOST'] or '127.0.0.1'} port={s['PORT'] or 5432} "
        f"user={s['USER'] or 'postgres'} dbname={s['NAME']}"
    )


class _DropConnection:
    """An execute wrapper that kills this connection's server backend at the ``nth``
    statement matching ``needle``, as a network cut or a database restart would."""

    def __init__(self, needle: str, nth: int = 1):
        self.needle, self.nth, self.seen, self.fired = needle, nth, 0, False

    def __call__(self, execute, sql, params, many, context):
        if not self.fired and self.needle in sql:
            self.seen += 1
            if self.seen == self.nth:
                self.fired = True
                pid = context["connection"].connection.info.backend_pid
                with psycopg.connect(_dsn(), autocommit=True) as admin:
                    admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        return execute(sql, params, many, context)


def _api(tenant):
    from rest_framework.test import APIClient

    c = APIClient()
    c.credentials(HTTP_AUTHORIZATION=f"Bearer {make_api_key(tenant)[1]}")
    return c


def _fresh_count(model, tenant) -> int:
    connection.close()  # the dropped connection: reconnect, as the next request would
    with tenant_scope(tenant):
        return model.objects.count()


@pytest.mark.django_db(transaction=True)
def test_connection_dropped_during_a_large_deal_sync(tenant):
    _require_postgresql()
    client = _api(tenant)
    t0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    batch = [
        {
            "sf_id": to_18(f"006{n:012d}"),
            "system_modstamp": (t0 + dt.timedelta(seconds=n)).isoformat(),
            "name": f"Deal {n}",
            "amount": "1000.00",
        }
        for n in range(5000)
    ]
    # After the batch is staged (COPY), at the upsert: the middle of its transaction.
    fault = _DropConnection("INSERT INTO")
    with connection.execute_wrapper(fault):
        response = client.post("/api/v1/deals/sync/", batch, format="json")
    assert fault.fired
    assert response.status_code == 503, response.content
    assert "try again" in response.json()["detail"]
    assert _fresh_count(Deal, tenant) == 0  # nothing of the batch

    replay = client.post("/api/v1/deals/sync/", batch, format="json")
    assert replay.status_code == 200, replay.content
    assert replay.json()["created"] == 5000
    assert _fresh_count(Deal, tenant) == 5000


@pytest.mark.django_db(transaction=True)
def test_connection_dropped_during_a_large_view_ingestion(tenant):
    _require_postgresql()
    rep = RepFactory(tenant=tenant, partner=PartnerFactory(tenant=tenant))
    material = MaterialFactory(tenant=tenant, external_id="deck-1")
    client = _api(tenant)
    events = [
        {
            "event_id": f"evt-{n}",
            "viewed_at": "2026-03-01T10:00:00+09:00",
            "rep_email": rep.email,
            "material_external_id": material.external_id,
            "duration_seconds": 30,
        }
        for n in range(5000)
    ]
    fault = _DropConnection("activities_materialview")
    with connection.execute_wrapper(fault):
        response = client.post("/api/v1/material-views/", events, format="json")
    assert fault.fired
    assert response.status_code == 503, response.content
    assert _fresh_count(MaterialView, tenant) == 0

    replay = client.post("/api/v1/material-views/", events, format="json")
    assert replay.status_code == 200, replay.content
    assert replay.json()["created"] == 5000
    assert _fresh_count(MaterialView, tenant) == 5000


# --- a worker killed in the middle of a segmentation run -----------------------------


def _start_worker(queue: str, name: str) -> subprocess.Popen:
    s = connection.settings_dict
    url = "postgres://{}@{}:{}/{}".format(
        s["USER"] or "postgres", s["HOST"] or "127.0.0.1", s["PORT"] or 5432, s["NAME"]
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "pse_crm.settings.test",
        "DATABASE_URL": url,
        "CELERY_BROKER_URL": celery_app.conf.broker_url,
    }
    # A short visibility timeout: a message whose worker died is delivered again in
    # seconds instead of Redis's default hour.
    code = (
        "from pse_crm.celery import app; "
        "app.conf.broker_transport_options = {'visibility_timeout': 3}; "
        f"app.worker_main(['worker', '--pool=prefork', '-c', '1', '-Q', {queue!r}, '-n', {name!r}, "
        "'-l', 'warning', '--without-gossip', '--without-mingle', '--without-heartbeat'])"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail("the Celery worker exited at start")
        if celery_app.control.ping(destination=[name], timeout=0.5):
            return proc
    proc.kill()
    pytest.fail("the Celery worker did not answer within 60 s")


def _wait(predicate, timeout: float, what: str, state=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}" + (f": {state()}" if state else ""))


def _runs(tenant):
    with tenant_scope(tenant):
        return list(SegmentationRun.objects.order_by("pk"))


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_segmentation_run(tenant):
    _require_postgresql()
    for i in range(3):
        partner = PartnerFactory(tenant=tenant, name=f"P{i}")
        deal = DealFactory(tenant=tenant, rep__partner=partner, partner=partner, is_won=True)
        MaterialViewFactory(tenant=tenant, rep=deal.rep, material__tenant=tenant)
    MembershipFactory(tenant=tenant, role=Role.OWNER)
    now = timezone.now()
    previous = SegmentationRunFactory(
        tenant=tenant,
        trigger=SegmentationRun.Trigger.NIGHTLY,
        as_of=now - dt.timedelta(days=1),
        as_of_date=(now - dt.timedelta(days=1)).date(),
    )
    queue = f"faults-{uuid.uuid4().hex[:8]}"
    first = _start_worker(queue, f"faults-a-{os.getpid()}@localhost")
    holder = psycopg.connect(_dsn())
    try:
        # Hold the segments table: the run starts, then waits inside its transaction.
        holder.execute("LOCK TABLE enablement_repsegment IN ACCESS EXCLUSIVE MODE")
        celery_app.conf.task_always_eager = False
        try:
            from momentum.tasks import tenant_nightly

            tenant_nightly.apply_async(args=[tenant.pk, now.isoformat()], queue=queue)
        finally:
            celery_app.conf.task_always_eager = True
        _wait(
            lambda: any(r.status == SegmentationRun.Status.RUNNING for r in _runs(tenant)),
            60,
            "the run to start",
        )
        _wait(
            lambda: holder.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock'"
            ).fetchone()[0],
            30,
            "the run to wait in the middle",
        )
        # The OOM killer's way: SIGKILL the pool process running the task. Its database
        # session is cut too (as PostgreSQL does once it notices the dead client).
        with open(f"/proc/{first.pid}/task/{first.pid}/children") as f:
            (child,) = [int(pid) for pid in f.read().split()]
        os.kill(child, signal.SIGKILL)
        holder.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            " AND pid <> pg_backend_pid()"
        )
        holder.rollback()  # the lock goes; the dead worker's transaction is rolled back

        # The previous run stays current while nothing replaced it.
        assert [r.pk for r in _runs(tenant) if r.is_current] == [previous.pk]
        # The worker's parent puts the task back (acks_late, reject_on_worker_lost) and a
        # new pool process runs it again.
        done = _wait(
            lambda: [
                r
                for r in _runs(tenant)
                if r.trigger == SegmentationRun.Trigger.NIGHTLY
                and r.as_of_date == timezone.localtime(now, tenant.tzinfo).date()
                and r.status == SegmentationRun.Status.SUCCEEDED
            ],
            90,
            "the task to run again and finish",
            lambda: [(r.trigger, r.status, r.error) for r in _runs(tenant)],
        )
        assert len(done) == 1  # no duplicate run for the day
        runs = _runs(tenant)
        assert [r.pk for r in runs if r.is_current] == [done[0].pk]
        interrupted = [r for r in runs if r.status == SegmentationRun.Status.FAILED]
        assert len(interrupted) == 1 and "Interrupted" in interrupted[0].error
        with tenant_scope(tenant):
            assert done[0].rep_segments.count() == 3
    finally:
        holder.close()
        for proc in (first,):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()


# --- Redis (the task queue) stopped --------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _reset_broker_pools():
    """Forget cached broker connections so that the next send uses ``broker_url``.

    Only forgotten, never closed: kombu keeps one pool per broker URL for the process,
    and the suite's own broker pool must stay usable for the tests that follow."""
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def throwaway_redis(tmp_path, monkeypatch):
    """A Redis of the test's own (never the shared one), made the broker for the test."""
    port = _free_port()
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    _wait(
        lambda: (
            subprocess.run(
                ["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True
            ).stdout.strip()
            == "PONG"
        ),
        10,
        "redis to start",
    )
    old = celery_app.conf.broker_url, celery_app.conf.task_always_eager
    # Celery reads $CELERY_BROKER_URL before its configuration.
    monkeypatch.setenv("CELERY_BROKER_URL", url)
    celery_app.conf.broker_url = url
    celery_app.conf.task_always_eager = False
    _reset_broker_pools()
    state = {"proc": proc, "port": port, "dir": tmp_path}
    try:
        yield state
    finally:
        celery_app.conf.broker_url, celery_app.conf.task_always_eager = old
        _reset_broker_pools()
        if state["proc"].poll() is None:
            state["proc"].terminate()
            state["proc"].wait(timeout=10)


@pytest.mark.django_db(transaction=True)
def test_redis_stopped(tenant, throwaway_redis, client):
    _require_postgresql()
    from deal_signals.tasks import deal_signals_hourly
    from momentum.tasks import nightly_sweep

    partner = PartnerFactory(tenant=tenant)
    rep = RepFactory(tenant=tenant, partner=partner)
    material = MaterialFactory(tenant=tenant, external_id="deck-1")
    DealFactory(tenant=tenant, rep=rep, partner=partner, is_won=True)
    manager = MembershipFactory(tenant=tenant, role=Role.MANAGER).user
    api = _api(tenant)
    client.force_login(manager)

    throwaway_redis["proc"].terminate()  # Redis stops
    throwaway_redis["proc"].wait(timeout=10)

    # Pages and reads keep working.
    assert client.get("/").status_code == 200
    assert client.get("/segmentation/runs/").status_code == 200
    assert api.get("/api/v1/deals/").status_code == 200
    # Ingestion keeps working: the views are stored; their deal-signal check waits.
    response = api.post(
        "/api/v1/material-views/",
        [
            {
                "event_id": "evt-redis-down",
                "viewed_at": (timezone.now() - dt.timedelta(hours=1)).isoformat(),
                "rep_email": rep.email,
                "material_external_id": material.external_id,
                "duration_seconds": 30,
            }
        ],
        format="json",
    )
    assert response.status_code == 200, response.content
    assert _fresh_count(MaterialView, tenant) == 1
    assert _fresh_count(SignalEvaluationBacklog, tenant) == 1
    # Asking for a recompute: a clear "try again", not a 500.
    page = client.post("/segmentation/runs/recompute/", HTTP_REFERER="/segmentation/runs/")
    assert page.status_code == 302
    followed = client.get(page["Location"])
    assert "try again" in followed.content.decode()
    owner_api = _client_for(MembershipFactory(tenant=tenant, role=Role.OWNER).user)
    recompute = owner_api.post("/api/v1/segmentation/runs/", {}, format="json")
    assert recompute.status_code == 503
    assert "try again" in recompute.json()["detail"]
    assert recompute["Retry-After"] == "60"

    # Redis returns; the night's sweep (02:00 missed while it was down) catches up at 03:00.
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(throwaway_redis["port"]),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(throwaway_redis["dir"]),
        ],
        stdout=subprocess.DEVNULL,
    )
    throwaway_redis["proc"] = proc
    _wait(
        lambda: (
            subprocess.run(
                ["redis-cli", "-p", str(throwaway_redis["port"]), "ping"],
                capture_output=True,
                text=True,
            ).stdout.strip()
            == "PONG"
        ),
        10,
        "redis to return",
    )
    local_3am = timezone.localtime(timezone.now(), tenant.tzinfo).replace(hour=3, minute=0)
    celery_app.conf.task_always_eager = True
    nightly_sweep.apply(kwargs={"now": local_3am.isoformat()}).get()
    nightly = [r for r in _runs(tenant) if r.trigger == SegmentationRun.Trigger.NIGHTLY]
    assert [r.status for r in nightly] == [SegmentationRun.Status.SUCCEEDED]
    assert nightly[0].as_of_date == local_3am.date()
    # The hourly sweep queues the deal-signal check that waited: the first view is raised.
    deal_signals_hourly.apply().get()
    assert _fresh_count(SignalEvaluationBacklog, tenant) == 0
    assert _fresh_count(DealSignal, tenant) == 1


def _client_for(user):
    from rest_framework.test import APIClient

    c = APIClient()
    c.force_login(user)
    return c
