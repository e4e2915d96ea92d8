"""Shared fixtures: two tenants, clients per role, an API key client, a real Celery worker.

Every list test should create rows in ``other_tenant`` too and assert they do not appear.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from django.db import connection
from rest_framework.test import APIClient

from pse_crm.celery import Queues
from pse_crm.celery import app as celery_app
from pse_crm.roles import Role
from pse_crm.tenancy import tenant_scope
from tests.factories import MembershipFactory, TenantFactory, make_api_key
from tests.helpers import admin_client_for


@pytest.fixture
def tenant(db):
    return TenantFactory(slug="acme", name="Acme Software")


@pytest.fixture
def other_tenant(db):
    return TenantFactory(slug="rival", name="Rival Systems")


@pytest.fixture
def in_tenant(tenant):
    """Run the test body inside ``tenant``'s scope (as a command or task would)."""
    with tenant_scope(tenant):
        yield tenant


def _member(tenant, role):
    return MembershipFactory(tenant=tenant, role=role).user


@pytest.fixture
def owner(tenant):
    return _member(tenant, Role.OWNER)


@pytest.fixture
def manager(tenant):
    return _member(tenant, Role.MANAGER)


@pytest.fixture
def staff(tenant):
    return _member(tenant, Role.STAFF)


@pytest.fixture
def viewer(tenant):
    return _member(tenant, Role.VIEWER)


@pytest.fixture
def other_manager(other_tenant):
    return _member(other_tenant, Role.MANAGER)


def _client_for(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def manager_client(client, manager):
    return _client_for(client, manager)


@pytest.fixture
def owner_client(client, owner):
    return _client_for(client, owner)


@pytest.fixture
def staff_client(client, staff):
    return _client_for(client, staff)


@pytest.fixture
def viewer_client(client, viewer):
    return _client_for(client, viewer)


@pytest.fixture
def other_client(client, other_manager):
    return _client_for(client, other_manager)


@pytest.fixture
def staff_admin(client, tenant):
    """A tenant's staff user (is_staff, manager role, not superuser) in the admin."""
    return admin_client_for(client, tenant)


@pytest.fixture
def api_key(tenant):
    return make_api_key(tenant)[1]


@pytest.fixture
def api_client(api_key):
    """An integration client: ``Authorization: Bearer <key>`` for ``tenant``."""
    c = APIClient()
    c.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    return c


@pytest.fixture
def other_api_client(other_tenant):
    c = APIClient()
    c.credentials(HTTP_AUTHORIZATION=f"Bearer {make_api_key(other_tenant)[1]}")
    return c


@pytest.fixture
def session_api_client(manager):
    """A logged-in manager using the API through the session, with CSRF enforced."""
    c = APIClient(enforce_csrf_checks=True)
    c.force_login(manager)
    return c


# --- a real Celery worker -------------------------------------------------------------


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker):
    """A real ``celery worker`` subprocess on Redis, reading the test database."""
    settings_dict = connection.settings_dict
    if settings_dict["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("the real-worker tests need PostgreSQL")
    url = "postgres://{USER}@{HOST}:{PORT}/{NAME}".format(
        USER=settings_dict["USER"] or "postgres",
        HOST=settings_dict["HOST"] or "127.0.0.1",
        PORT=settings_dict["PORT"] or 5432,
        NAME=settings_dict["NAME"],
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "pse_crm.settings.test",
        "DATABASE_URL": url,
        "CELERY_BROKER_URL": celery_app.conf.broker_url,
    }
    with celery_app.connection_for_write() as conn:
        for queue in Queues.ALL:
            conn.default_channel.queue_purge(queue)
    hostname = f"pytest-{os.getpid()}@localhost"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "pse_crm",
            "worker",
            "--pool=solo",
            "-Q",
            ",".join(Queues.ALL),
            "-n",
            hostname,
            "-l",
            "warning",
            "--without-gossip",
            "--without-mingle",
        ],
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail("the Celery worker exited at start")
        if celery_app.control.ping(destination=[hostname], timeout=0.5):
            break
    else:
        proc.kill()
        pytest.fail("the Celery worker did not answer within 60 s")
    yield proc
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def celery_worker(celery_worker_process, transactional_db):
    """Send tasks to the real worker (not in-process) for the duration of one test."""
    celery_app.conf.task_always_eager = False
    try:
        yield celery_worker_process
    finally:
        celery_app.conf.task_always_eager = True
