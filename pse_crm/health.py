"""Probes: ``/healthz`` (the process answers) and ``/readyz`` (its dependencies answer).

``/healthz`` touches nothing: no database, no broker, no session (the tenant middleware
lets these paths through: pse_crm/middleware.py). Use it as the liveness probe.

``/readyz`` checks, each named in the answer with ``ok``, ``failed`` or ``not configured``
and a reason, and answers 503 when one failed:

* ``database``: PostgreSQL (or the demo's SQLite) answers ``SELECT 1``;
* ``redis``: the Celery broker answers PING;
* ``worker``: a Celery worker ran the beat task ``pse_crm.tasks.worker_heartbeat`` (every
  minute, through the default queue) less than ``HEARTBEAT_STALE_AFTER`` ago: so beat, the
  broker and a worker all work.

With no broker configured (the embedded demo: tasks run in-process) the broker and the
worker are "not configured", which is not a failure. The older ``/health/`` (a database
round trip) stays as it was.
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import asdict, dataclass

import redis
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

OK = "ok"
FAILED = "failed"
NOT_CONFIGURED = "not configured"

HEARTBEAT_KEY = "pse_crm:worker_heartbeat"
HEARTBEAT_STALE_AFTER = 180  # seconds: three missed beats (one a minute)
# Seconds to wait for Redis before calling it down (the probe itself must answer fast).
REDIS_TIMEOUT = 2.0
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


@dataclass(frozen=True)
class Check:
    status: str
    reason: str


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


@functools.lru_cache(maxsize=8)
def _redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url, socket_connect_timeout=REDIS_TIMEOUT, socket_timeout=REDIS_TIMEOUT
    )


def broker_redis() -> redis.Redis | None:
    """A client for the Celery broker, or None when no Redis broker is configured."""
    url = settings.CELERY_BROKER_URL or ""
    if not url.startswith(REDIS_SCHEMES):
        return None
    return _redis_client(url)


def _not_configured() -> Check:
    return Check(NOT_CONFIGURED, "no broker (CELERY_BROKER_URL): tasks run in-process")


def check_database() -> Check:
    started = time.perf_counter()
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # whatever the failure, the answer is "failed"
        return Check(FAILED, _reason(exc))
    return Check(OK, f"answered in {(time.perf_counter() - started) * 1000:.1f} ms")


def check_redis() -> Check:
    client = broker_redis()
    if client is None:
        return _not_configured()
    started = time.perf_counter()
    try:
        client.ping()
    except redis.RedisError as exc:
        return Check(FAILED, _reason(exc))
    return Check(OK, f"answered in {(time.perf_counter() - started) * 1000:.1f} ms")


def worker_heartbeat_record(*, worker: str) -> None:
    """Stamp the time: a worker is taking tasks (called by the beat task). No broker: no-op."""
    client = broker_redis()
    if client is None:
        return
    stamp = json.dumps({"at": time.time(), "worker": worker})
    client.set(HEARTBEAT_KEY, stamp, ex=HEARTBEAT_STALE_AFTER * 20)


def check_worker() -> Check:
    client = broker_redis()
    if client is None:
        return _not_configured()
    try:
        raw = client.get(HEARTBEAT_KEY)
    except redis.RedisError as exc:
        return Check(FAILED, f"heartbeat unreadable: {_reason(exc)}")
    if raw is None:
        return Check(FAILED, "no heartbeat: no worker (or no beat) has run worker_heartbeat")
    try:
        stamp = json.loads(raw)
        age = max(0.0, time.time() - float(stamp["at"]))
    except (ValueError, TypeError, KeyError):
        return Check(FAILED, "heartbeat unreadable")
    seen = f"last heartbeat {age:.0f} s ago from {stamp.get('worker') or 'a worker'}"
    if age > HEARTBEAT_STALE_AFTER:
        return Check(FAILED, f"{seen} (stale after {HEARTBEAT_STALE_AFTER} s)")
    return Check(OK, seen)


@require_safe
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require_safe
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {"database": check_database(), "redis": check_redis(), "worker": check_worker()}
    ready = all(check.status != FAILED for check in checks.values())
    return JsonResponse(
        {
            "status": "ok" if ready else "failed",
            "checks": {name: asdict(check) for name, check in checks.items()},
        },
        status=200 if ready else 503,
    )
