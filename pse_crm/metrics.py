"""Prometheus metrics, served at ``/metrics``.

What is measured, and where:

* requests and latency by view: django-prometheus' middleware (``django_http_*``);
* database statements: an execute wrapper on every connection, beside the row-level
  security one (pse_crm/rls.py), counting into django-prometheus' ``django_db_*``
  metrics. Not its database ENGINE: that one counts the wall's ``set_config`` round
  trips as queries too;
* Celery tasks by name and outcome (``celery_tasks_total``), from the task signals, in
  the process that runs the task;
* at scrape time: the messages waiting per queue (``celery_queue_length``, Redis LLEN),
  and the collectors the feature apps register from their ``AppConfig.ready``
  (``register_collector``): pse_crm knows no app. A collector that fails (its database or
  Redis down) reports ``pse_metrics_collector_up 0`` and the rest is still served.

Task metrics live in the worker's pool processes. With ``PROMETHEUS_MULTIPROC_DIR`` set
(prometheus_client's multiprocess mode) every process writes its samples into that
directory and whoever serves the directory reports them all: the web's ``/metrics``
(gunicorn with several workers needs it too), and the worker's own endpoint, which its
main process starts when ``WORKER_METRICS_PORT`` is set.

``/metrics`` wants ``Authorization: Bearer <METRICS_TOKEN>``; with no token configured
it answers only requests from this host that did not come through a proxy.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from celery.signals import task_failure, task_retry, task_success, worker_init
from django.conf import settings
from django.db import connection as default_connection
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from django_prometheus.db.metrics import (
    connections_total,
    errors_total,
    execute_many_total,
    execute_total,
    query_duration_seconds,
)
from kombu.transport.redis import PRIORITY_STEPS, Channel
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from pse_crm import health
from pse_crm.celery import Queues

log = logging.getLogger(__name__)

TASKS = Counter(
    "celery_tasks_total", "Celery tasks run, by task name and outcome.", ["task", "outcome"]
)
# Headers a proxy adds: a request carrying one is not "from this host", whatever the socket.
PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


# --- database statements ---------------------------------------------------------------


def _count_statements(execute, sql, params, many, context):
    db = context["connection"]
    labels = (db.alias, db.vendor)
    count = len(params) if many and isinstance(params, list | tuple) else 1
    execute_total.labels(*labels).inc(count)
    if many:
        execute_many_total.labels(*labels).inc(count)
    started = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    except Exception as exc:
        errors_total.labels(*labels, type(exc).__name__).inc()
        raise
    finally:
        query_duration_seconds.labels(*labels).observe(time.perf_counter() - started)


def install_statement_metrics(sender=None, connection=None, **kwargs) -> None:
    """``connection_created`` handler: count and time this connection's statements."""
    if connection is None:
        return
    connections_total.labels(connection.alias, connection.vendor).inc()
    if _count_statements not in connection.execute_wrappers:
        connection.execute_wrappers.append(_count_statements)


# --- Celery tasks ----------------------------------------------------------------------


def _task_name(sender: Any, request: Any = None) -> str:
    return getattr(sender, "name", None) or getattr(request, "task", None) or "unknown"


@task_success.connect(dispatch_uid="pse_crm.metrics.task_success")
def _task_succeeded(sender=None, **kwargs) -> None:
    TASKS.labels(_task_name(sender), "success").inc()


@task_failure.connect(dispatch_uid="pse_crm.metrics.task_failure")
def _task_failed(sender=None, **kwargs) -> None:
    TASKS.labels(_task_name(sender), "failure").inc()


@task_retry.connect(dispatch_uid="pse_crm.metrics.task_retry")
def _task_retried(sender=None, request=None, **kwargs) -> None:
    TASKS.labels(_task_name(sender, request), "retry").inc()


def process_registry() -> Any:
    """This process's samples, or every process's in multiprocess mode."""
    if multiprocess_dir() is None:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return registry


@worker_init.connect(dispatch_uid="pse_crm.metrics.worker_endpoint")
def serve_worker_metrics(sender=None, **kwargs) -> None:
    """The worker's endpoint (``WORKER_METRICS_PORT``), started in its main process."""
    port = settings.WORKER_METRICS_PORT
    if not port:
        return
    pool = str(getattr(sender, "pool_cls", ""))
    if multiprocess_dir() is None and "prefork" in pool:
        log.warning(
            "WORKER_METRICS_PORT without PROMETHEUS_MULTIPROC_DIR: the prefork pool's task "
            "metrics stay in its child processes and are not served"
        )
    start_http_server(port, addr=settings.WORKER_METRICS_ADDR, registry=process_registry())
    log.info("worker metrics on %s:%s", settings.WORKER_METRICS_ADDR, port)


# --- scrape-time collectors ------------------------------------------------------------

_collectors: dict[str, Callable[[], Iterable[Metric]]] = {}


def register_collector(name: str, collect: Callable[[], Iterable[Metric]]) -> None:
    """Add a scrape-time collector (from a feature app's ``AppConfig.ready``). ``collect``
    runs in the web process at each scrape and yields metric families; label by
    ``tenant_id`` at most, never by a tenant's data."""
    _collectors[name] = collect


def queue_lengths() -> Iterator[Metric]:
    client = health.broker_redis()
    if client is None:
        return
    # kombu keeps a queue's messages of each priority step in a list of its own.
    keys = {
        queue: [queue if not step else f"{queue}{Channel.sep}{step}" for step in PRIORITY_STEPS]
        for queue in Queues.ALL
    }
    pipe = client.pipeline(transaction=False)
    for queue_keys in keys.values():
        for key in queue_keys:
            pipe.llen(key)
    lengths = iter(pipe.execute())
    gauge = GaugeMetricFamily(
        "celery_queue_length", "Messages waiting in each Celery queue.", labels=["queue"]
    )
    for queue, queue_keys in keys.items():
        gauge.add_metric([queue], sum(next(lengths) for _ in queue_keys))
    yield gauge


register_collector("queue_length", queue_lengths)


class _Scrape:
    """What ``/metrics`` serves: the process's (or every process's) samples and the
    scrape-time collectors, each guarded."""

    def collect(self) -> Iterator[Metric]:
        yield from process_registry().collect()
        up = GaugeMetricFamily(
            "pse_metrics_collector_up",
            "1 when the scrape-time collector answered, 0 when it failed (see the log).",
            labels=["collector"],
        )
        for name, collect in list(_collectors.items()):
            try:
                families = list(collect())
            except Exception:  # one dependency down must not hide the rest
                log.exception("metrics collector %s failed", name)
                up.add_metric([name], 0)
                continue
            up.add_metric([name], 1)
            yield from families
        yield up


def metrics_allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.encode()
        )
    # No token: this host only. A proxy on this host makes every request local, so a
    # request that came through one (it names the client) is refused.
    if any(header in request.META for header in PROXY_HEADERS):
        return False
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


@require_safe
@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not metrics_allowed(request):
        response = HttpResponse("Forbidden\n", status=403, content_type="text/plain")
        if settings.METRICS_TOKEN:
            response.status_code = 401
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(_Scrape()), content_type=CONTENT_TYPE_LATEST)


# --- cross-tenant aggregates for the feature apps' gauges ------------------------------


@dataclass(frozen=True)
class TenantAggregate:
    """A cross-tenant aggregate behind a scrape-time gauge: ``query`` (PostgreSQL) selects
    ``(tenant_id, value)``, grouped by tenant id, the value a double precision.

    A scrape runs in no tenant's scope, so row-level security shows the application role
    no row at all. The query therefore runs inside the function ``name()``, which lifts
    the wall for this one query and returns only its rows (as activities' roll-up trigger
    does); the function is (re)created after each ``migrate``
    (``install_tenant_aggregates``). Python never opens the wall (no ``all_tenants`` block).
    SQLite (the demo) reads no aggregate: its gauges stay at their defaults.
    """

    name: str
    query: str

    def ddl(self) -> str:
        return f"""
CREATE OR REPLACE FUNCTION {self.name}()
RETURNS TABLE (tenant_id bigint, value double precision)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    previous text := coalesce(current_setting('app.all_tenants', true), '');
BEGIN
    PERFORM set_config('app.all_tenants', 'on', true);
    RETURN QUERY {self.query};
    PERFORM set_config('app.all_tenants', previous, true);
END
$$"""

    def values(self) -> dict[int, float]:
        if default_connection.vendor != "postgresql":
            return {}
        with default_connection.cursor() as cursor:
            cursor.execute(f"SELECT tenant_id, value FROM {self.name}()")
            return {int(tenant_id): float(value) for tenant_id, value in cursor.fetchall()}


_aggregates: dict[str, TenantAggregate] = {}


def register_tenant_aggregate(aggregate: TenantAggregate) -> TenantAggregate:
    """Have ``aggregate``'s function created after each ``migrate`` (from ``ready()``)."""
    _aggregates[aggregate.name] = aggregate
    return aggregate


def install_tenant_aggregates(sender=None, using: str = "default", **kwargs) -> None:
    """``post_migrate`` handler: (re)create every registered aggregate's function."""
    from django.db import connections

    db = connections[using]
    if db.vendor != "postgresql":
        return
    with db.cursor() as cursor:
        for aggregate in _aggregates.values():
            cursor.execute(aggregate.ddl())


def tenant_gauge(
    name: str, documentation: str, values: dict[int, float], *, missing: float = 0.0
) -> GaugeMetricFamily:
    """A gauge with one sample per active tenant, labelled by its id only."""
    from pse_crm.models import Tenant

    gauge = GaugeMetricFamily(name, documentation, labels=["tenant_id"])
    for tenant_id in Tenant.objects.filter(is_active=True).values_list("pk", flat=True):
        gauge.add_metric([str(tenant_id)], values.get(tenant_id, missing))
    return gauge
