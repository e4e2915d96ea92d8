"""Helpers that tests of several apps share: clients of a new member, a second database
connection on a thread, Django settings read in a fresh interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from django.db import connections
from rest_framework.test import APIClient

from pse_crm.roles import Role
from tests.factories import MembershipFactory

ROOT = Path(__file__).resolve().parents[1]


def member_api_client(tenant, role) -> APIClient:
    """An API client logged in (session) as a new member of ``tenant`` with ``role``."""
    client = APIClient()
    client.force_login(MembershipFactory(tenant=tenant, role=role).user)
    return client


def admin_client_for(client, tenant, *, role=Role.MANAGER, is_staff=True):
    """``client`` logged in as a new member of ``tenant`` (``is_staff``: may use the admin)."""
    user = MembershipFactory(tenant=tenant, role=role, user__is_staff=is_staff).user
    client.force_login(user)
    return client


def on_another_connection(
    action: Callable[[], object], errors: list[BaseException]
) -> threading.Thread:
    """``action`` started on its own thread and database connection; its exception kept."""

    def run():
        try:
            action()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def run_with_settings(
    module: str, env_name: str, value: str | None, code: str
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter with settings ``module`` and the environment
    variable ``env_name`` set to ``value`` (unset for None); it must succeed."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": module}
    env.update({"SECRET_KEY": "k" * 50, "ALLOWED_HOSTS": "crm.example.com"})
    env.setdefault("FIELD_ENCRYPTION_KEY", "Zp3nS0pZ8d3Jr4qk1o8b7JqvQ2m0mJbq0Qm8r6c4lUo=")
    env.pop(env_name, None)
    if value is not None:
        env[env_name] = value
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result
