"""Shared by the API benches (api_sync, api_ingest, deal_sync_csv, deal_sync_cdc): a real
gunicorn server on loopback, the timed POST, the bench's key and its sales world.

The server runs this checkout's WSGI app from .venv on 127.0.0.1 and a free port, against
the benchmark's DATABASE_URL, with DEBUG off; it is stopped (by its own pid) on exit.
The helpers that touch the database import the models when called: a bench may import
this module before it runs ``django.setup()``.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_server(*, workers: int = 2, timeout_s: float = 60.0):
    """Yield ``(host, port)`` of a gunicorn serving pse_crm on loopback; stop it after."""
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "pse_crm.settings.local",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.Popen(
        [
            str(GUNICORN),
            "pse_crm.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--timeout",
            "300",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                sys.exit("gunicorn exited at start")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/health/")
                conn.getresponse().read()
                conn.close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    sys.exit("gunicorn did not answer in time")
                time.sleep(0.2)
        yield "127.0.0.1", port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def post(
    host: str, port: int, path: str, body: bytes, *, key: str, content_type: str
) -> tuple[int, dict, float]:
    """POST ``body``; return (status, decoded JSON, seconds from first byte sent to last read)."""
    conn = http.client.HTTPConnection(host, port, timeout=600)
    started = time.perf_counter()
    conn.request(
        "POST",
        path,
        body=body,
        headers={"Authorization": f"Bearer {key}", "Content-Type": content_type},
    )
    response = conn.getresponse()
    payload = response.read()
    elapsed = time.perf_counter() - started
    conn.close()
    return response.status, json.loads(payload or b"{}"), elapsed


def post_ok(
    host: str, port: int, path: str, body: bytes, *, key: str, content_type: str, what: str
) -> tuple[dict, float]:
    """``post`` that stops the bench, naming ``what``, unless the answer is 200; return
    (decoded JSON, seconds)."""
    status, answer, seconds = post(host, port, path, body, key=key, content_type=content_type)
    if status != 200:
        sys.exit(f"{what}: HTTP {status}: {str(answer)[:500]}")
    return answer, seconds


def bench_key(tenant) -> str:
    """A new ``write`` key named "bench" for ``tenant``; the earlier ones are revoked."""
    from pse_crm.models import TenantAPIKey
    from pse_crm.services.api_keys import api_key_create

    TenantAPIKey.objects.filter(tenant=tenant, name="bench").update(revoked=True)
    _, key = api_key_create(tenant=tenant, name="bench")
    return key


def sales_world_seed(tenant, *, partners: int, reps: int) -> None:
    """Give ``tenant`` ``partners`` partners and ``reps`` reps with Salesforce ids (partner
    ``001A0000nnnnnnn``, rep user ``005A0000nnnnnnn``, n from 0), unless it has them."""
    from partners.models import Partner
    from pse_crm.sfid import to_18
    from pse_crm.tenancy import tenant_scope
    from reps.models import Rep

    with tenant_scope(tenant):
        if Partner.objects.count() >= partners:
            return
        made = Partner.objects.bulk_create(
            [
                Partner(tenant=tenant, name=f"Partner {n}", external_id=to_18(f"001A0000{n:07d}"))
                for n in range(partners)
            ]
        )
        Rep.objects.bulk_create(
            [
                Rep(
                    tenant=tenant,
                    partner=made[n % partners],
                    name=f"Rep {n}",
                    email=f"rep{n}@p{n % partners}.example.jp",
                    salesforce_user_id=to_18(f"005A0000{n:07d}"),
                )
                for n in range(reps)
            ]
        )
