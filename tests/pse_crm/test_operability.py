"""What the operator watches: /healthz, /readyz, /metrics and the JSON log lines."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
import socket
import subprocess
import sys
import time
from urllib.request import urlopen

import pytest
from django.db import OperationalError, connection
from django.utils import timezone
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from deal_signals.models import DealSignalView, SignalEvaluationBacklog
from pse_crm import health, logs
from pse_crm.celery import app as celery_app
from pse_crm.logs import JsonFormatter
from pse_crm.tasks import worker_heartbeat
from pse_crm.tenancy import tenant_scope
from segmentation.models import SegmentationRun
from tests.activities.factories import MaterialViewFactory
from tests.deal_signals.factories import DealSignalFactory
from tests.factories import make_api_key
from tests.hardening.conftest import acting_as_app_role
from tests.helpers import run_with_settings
from tests.segmentation.factories import SegmentationRunFactory

pytestmark = pytest.mark.django_db

NOBODY_LISTENS = "redis://127.0.0.1:1/0"


@pytest.fixture(autouse=True)
def no_heartbeat():
    client = health.broker_redis()
    client.delete(health.HEARTBEAT_KEY)
    yield
    client.delete(health.HEARTBEAT_KEY)


@pytest.fixture
def database_down(monkeypatch):
    """The database refuses connections (what psycopg raises, seen through Django)."""

    def refuse(*args, **kwargs):
        raise OperationalError('connection to server at "127.0.0.1", port 5432 failed')

    with monkeypatch.context() as patch:
        patch.setattr(connection, "cursor", refuse)
        yield


def _ready(client):
    response = client.get("/readyz")
    body = response.json()
    return response.status_code, body["status"], body["checks"]


# --- /healthz and /readyz ----------------------------------------------------------------


def test_healthz_answers_without_the_database(client, database_down):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response.headers["Cache-Control"]


def test_readyz_reports_every_dependency_ok(client):
    worker_heartbeat.delay()  # what beat and a worker do every minute
    status, overall, checks = _ready(client)
    assert (status, overall) == (200, "ok")
    assert {name: check["status"] for name, check in checks.items()} == {
        "database": "ok",
        "redis": "ok",
        "worker": "ok",
    }
    assert checks["worker"]["reason"].startswith("last heartbeat 0 s ago")


def test_readyz_database_down(client, database_down):
    worker_heartbeat.delay()
    status, overall, checks = _ready(client)
    assert (status, overall) == (503, "failed")
    assert checks["database"]["status"] == "failed"
    assert "OperationalError" in checks["database"]["reason"]
    assert checks["redis"]["status"] == checks["worker"]["status"] == "ok"


def test_readyz_redis_down(client, settings):
    worker_heartbeat.delay()
    settings.CELERY_BROKER_URL = NOBODY_LISTENS
    status, overall, checks = _ready(client)
    assert (status, overall) == (503, "failed")
    assert checks["database"]["status"] == "ok"
    assert checks["redis"]["status"] == "failed"
    assert "ConnectionError" in checks["redis"]["reason"]
    assert checks["worker"]["status"] == "failed"


def test_readyz_no_worker(client):
    status, overall, checks = _ready(client)
    assert (status, overall) == (503, "failed")
    assert checks["worker"] == {
        "status": "failed",
        "reason": "no heartbeat: no worker (or no beat) has run worker_heartbeat",
    }
    assert checks["redis"]["status"] == "ok"


def test_readyz_stale_heartbeat(client, monkeypatch):
    worker_heartbeat.delay()
    later = time.time() + health.HEARTBEAT_STALE_AFTER + 1
    monkeypatch.setattr(health.time, "time", lambda: later)
    status, _, checks = _ready(client)
    assert status == 503
    assert checks["worker"]["status"] == "failed"
    assert "stale after 180 s" in checks["worker"]["reason"]


def test_readyz_without_a_broker_says_not_configured(client, settings):
    settings.CELERY_BROKER_URL = "memory://"  # the embedded demo
    status, overall, checks = _ready(client)
    assert (status, overall) == (200, "ok")
    assert checks["redis"]["status"] == checks["worker"]["status"] == "not configured"


def test_probes_need_no_login_and_no_tenant(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert client.get("/healthz").status_code == 200
    with django_assert_num_queries(1):  # SELECT 1, nothing else
        worker_heartbeat.delay()
        assert client.get("/readyz").status_code == 200


def test_probes_and_metrics_are_not_redirected_to_https(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz").status_code == 200
    assert client.get("/metrics").status_code == 200
    worker_heartbeat.delay()
    assert client.get("/readyz").status_code == 200
    assert client.get("/login/").status_code == 301


def test_probes_skip_the_tenant_middleware(manager_client, django_assert_num_queries):
    # A session cookie costs its session and user rows (the row-level security middleware
    # names the user); no membership is read and no tenant is put in the session.
    with django_assert_num_queries(2):
        response = manager_client.get("/healthz")
    assert response.status_code == 200
    assert "sessionid" not in response.cookies


# --- /metrics --------------------------------------------------------------------------


def _families(text: str) -> dict:
    return {family.name: family for family in text_string_to_metric_families(text)}


def _samples(family, **labels) -> list:
    return [s for s in family.samples if all(s.labels.get(k) == v for k, v in labels.items())]


def _scrape(client, **headers):
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return _families(response.content.decode())


def test_metrics_requests_statements_tasks_and_queues(client, settings):
    broker = health.broker_redis()
    broker.delete("ingest")
    broker.lpush("ingest", "m1", "m2")
    try:
        client.get("/healthz")
        worker_heartbeat.delay()
        families = _scrape(client)
    finally:
        broker.delete("ingest")
    requests = families["django_http_requests_total_by_view_transport_method"]
    assert _samples(requests, view="healthz", method="GET")[0].value >= 1
    assert families["django_http_requests_latency_seconds_by_view_method"]
    assert _samples(families["django_db_execute"], alias="default", vendor="postgresql")
    tasks = _samples(
        families["celery_tasks"], task="pse_crm.tasks.worker_heartbeat", outcome="success"
    )
    assert tasks and tasks[0].value >= 1
    queues = {s.labels["queue"]: s.value for s in families["celery_queue_length"].samples}
    assert queues == {"default": 0, "segmentation": 0, "ingest": 2, "notify": 0, "salesforce": 0}
    up = {s.labels["collector"]: s.value for s in families["pse_metrics_collector_up"].samples}
    assert up == {"queue_length": 1, "deal_signals": 1, "segmentation": 1}


def test_a_failed_task_is_counted_as_a_failure():
    @celery_app.task(name="tests.operability.broken")
    def broken():
        raise ValueError("broken")

    labels = {"task": "tests.operability.broken", "outcome": "failure"}
    before = REGISTRY.get_sample_value("celery_tasks_total", labels) or 0
    # As a worker runs it (eager tasks that propagate their error send no task_failure).
    assert broken.apply(throw=False).state == "FAILURE"
    assert REGISTRY.get_sample_value("celery_tasks_total", labels) == before + 1


def test_statements_are_counted_beside_the_tenant_wall(tenant, other_tenant):
    labels = {"alias": "default", "vendor": "postgresql"}
    before = REGISTRY.get_sample_value("django_db_execute_total", labels)
    with tenant_scope(tenant):
        # Entering the scope costs the wall a set_config round trip: not a query of ours.
        assert SignalEvaluationBacklog.objects.count() == 0
    assert REGISTRY.get_sample_value("django_db_execute_total", labels) == before + 1


def test_tenant_gauges_read_every_tenant_through_the_wall(client, tenant, other_tenant):
    now = timezone.now()
    with tenant_scope(tenant):
        SignalEvaluationBacklog.objects.create(rep_ids=[1])
        SignalEvaluationBacklog.objects.update(created_at=now - dt.timedelta(minutes=10))
        signal = DealSignalFactory(rep__partner__tenant=tenant)
        view = MaterialViewFactory(tenant=tenant, rep=signal.rep, material__tenant=tenant)
        type(view).objects.filter(pk=view.pk).update(
            ingested_at=signal.created_at - dt.timedelta(seconds=90)
        )
        DealSignalView.objects.create(signal=signal, view=view, kind=signal.kind)
    with tenant_scope(other_tenant):
        finished = now - dt.timedelta(hours=3)
        SegmentationRunFactory(
            tenant=other_tenant, trigger=SegmentationRun.Trigger.NIGHTLY, finished_at=finished
        )
        SegmentationRunFactory(  # a manual run, and a failed nightly one, do not count
            tenant=other_tenant,
            trigger=SegmentationRun.Trigger.MANUAL,
            finished_at=now,
            is_current=False,
        )
        SegmentationRunFactory(
            tenant=other_tenant,
            trigger=SegmentationRun.Trigger.NIGHTLY,
            status=SegmentationRun.Status.FAILED,
            finished_at=now,
            is_current=False,
        )
    # As the application's database role: row-level security hides every row from a
    # query outside a tenant's scope, which a scrape is.
    with acting_as_app_role():
        families = _scrape(client)

    def by_tenant(name):
        samples = families[name].samples
        assert {frozenset(s.labels) for s in samples} == {frozenset({"tenant_id"})}
        return {int(s.labels["tenant_id"]): s.value for s in samples}

    backlog = by_tenant("pse_deal_signal_backlog_age_seconds")
    assert 590 < backlog[tenant.pk] < 700 and backlog[other_tenant.pk] == 0
    lag = by_tenant("pse_deal_signal_lag_seconds")
    assert lag[tenant.pk] == pytest.approx(90, abs=1) and lag[other_tenant.pk] == 0
    nightly = by_tenant("pse_nightly_last_success_timestamp_seconds")
    assert nightly == {tenant.pk: 0, other_tenant.pk: pytest.approx(finished.timestamp())}


def test_a_failing_collector_does_not_hide_the_rest(client, settings):
    settings.CELERY_BROKER_URL = NOBODY_LISTENS
    families = _scrape(client)
    up = {s.labels["collector"]: s.value for s in families["pse_metrics_collector_up"].samples}
    assert up == {"queue_length": 0, "deal_signals": 1, "segmentation": 1}
    assert "celery_queue_length" not in families
    assert "django_http_requests_total_by_view_transport_method" in families


def test_metrics_with_a_token_want_it(client, settings):
    settings.METRICS_TOKEN = "s3cret-scrape-token"
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 401
    assert wrong["WWW-Authenticate"].startswith("Bearer")
    _scrape(client, HTTP_AUTHORIZATION="Bearer s3cret-scrape-token")
    # With a token, where the request comes from does not matter.
    _scrape(client, HTTP_AUTHORIZATION="Bearer s3cret-scrape-token", REMOTE_ADDR="203.0.113.9")


def test_metrics_without_a_token_only_from_this_host(client, settings):
    settings.METRICS_TOKEN = ""
    _scrape(client)  # the test client is 127.0.0.1
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403
    # Through a proxy on this host the socket is local, but the client is not.
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 403


# --- JSON log lines ------------------------------------------------------------------------


@pytest.fixture
def json_console():
    """The console handler of settings.LOGGING (its filter included), writing JSON here."""
    handler = next(h for h in logging.getLogger().handlers if h.name == "console")
    stream, formatter = io.StringIO(), handler.formatter
    previous = handler.setStream(stream)
    handler.setFormatter(JsonFormatter())
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        handler.setFormatter(formatter)
        handler.setStream(previous)


def test_a_logged_in_request_logs_json_with_request_and_tenant_ids(
    owner_client, tenant, json_console
):
    response = owner_client.get("/settings/audit/", HTTP_X_REQUEST_ID="req-4f2a9c")
    assert response.status_code == 200
    assert response["X-Request-ID"] == "req-4f2a9c"
    (line,) = [r for r in json_console() if r["logger"] == "pse_crm.access"]
    assert line["request_id"] == "req-4f2a9c"
    assert line["tenant_id"] == tenant.pk
    assert (line["method"], line["path"], line["status"]) == ("GET", "/settings/audit/", 200)
    assert line["level"] == "INFO" and line["time"].endswith("+00:00")


def test_log_records_inside_a_tenant_scope_carry_its_id(tenant, json_console):
    with tenant_scope(tenant):
        logging.getLogger("pse_crm.tests").warning("inside")
    logging.getLogger("pse_crm.tests").warning("outside")
    inside, outside = json_console()
    assert (inside["message"], inside["tenant_id"]) == ("inside", tenant.pk)
    assert (outside["tenant_id"], outside["request_id"]) == (None, None)


def test_an_api_key_request_logs_the_keys_tenant(tenant, json_console):
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {make_api_key(tenant)[1]}")
    assert api.get("/api/v1/partners/").status_code == 200
    (line,) = [r for r in json_console() if r["logger"] == "pse_crm.access"]
    assert line["tenant_id"] == tenant.pk


@pytest.mark.parametrize("given", ["", "has spaces", "x" * 129, "-leading-dash"])
def test_an_insane_request_id_is_replaced(client, given):
    response = client.get("/login/", HTTP_X_REQUEST_ID=given)
    assert response["X-Request-ID"] != given
    assert logs.SANE_REQUEST_ID.fullmatch(response["X-Request-ID"])
    assert len(response["X-Request-ID"]) == 36  # a uuid4


def _logging_settings(module: str, log_format: str | None) -> str:
    code = (
        "import django, logging; django.setup(); "
        "logging.getLogger('probe').warning('hello', extra={'n': 1})"
    )
    result = run_with_settings(module, "LOG_FORMAT", log_format, code)
    return result.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("module", "log_format", "json_lines"),
    [
        ("pse_crm.settings.production", None, True),
        ("pse_crm.settings.production", "text", False),
        ("pse_crm.settings.local", None, False),
        ("pse_crm.settings.local", "json", True),
    ],
)
def test_log_format(module, log_format, json_lines):
    line = _logging_settings(module, log_format)
    if json_lines:
        record = json.loads(line)
        assert {k: record[k] for k in ("level", "logger", "message", "n")} == {
            "level": "WARNING",
            "logger": "probe",
            "message": "hello",
            "n": 1,
        }
        assert record["request_id"] is None and record["tenant_id"] is None
    else:
        assert line.endswith("WARNING probe hello")


# --- the worker's own endpoint (prefork pool, multiprocess mode) ---------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.celery_worker
def test_a_prefork_worker_serves_its_task_metrics(tmp_path):
    queue, port = f"pse-metrics-{os.getpid()}", _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "pse_crm.settings.test",
        "CELERY_BROKER_URL": celery_app.conf.broker_url,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "WORKER_METRICS_PORT": str(port),
    }
    hostname = f"metrics-{os.getpid()}@localhost"
    command = [sys.executable, "-m", "celery", "-A", "pse_crm", "worker", "--pool=prefork"]
    command += ["-c", "2", "-Q", queue, "-n", hostname, "-l", "warning"]
    proc = subprocess.Popen([*command, "--without-gossip", "--without-mingle"], env=env)
    celery_app.conf.task_always_eager = False
    try:
        deadline = time.monotonic() + 60
        while not celery_app.control.ping(destination=[hostname], timeout=0.5):
            assert proc.poll() is None and time.monotonic() < deadline, "the worker did not start"
        for _ in range(3):
            worker_heartbeat.apply_async(queue=queue)
        wanted = {"task": "pse_crm.tasks.worker_heartbeat", "outcome": "success"}
        value, deadline = None, time.monotonic() + 30
        while value != 3 and time.monotonic() < deadline:
            time.sleep(0.3)
            text = urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
            samples = _samples(_families(text).get("celery_tasks", _Empty), **wanted)
            value = samples[0].value if samples else None
        assert value == 3
        # The heartbeat came from that worker: /readyz sees it.
        assert health.check_worker().reason.endswith(f"from {hostname}")
    finally:
        celery_app.conf.task_always_eager = True
        proc.terminate()
        proc.wait(timeout=30)


class _Empty:
    samples: list = []
