"""Hardening fixtures: acting as the application's database role (PostgreSQL)."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from django.db import connection

APP_ROLE = "pse_app"


def _require_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("row-level security is PostgreSQL-only (SQLite keeps the app-level wall)")


@contextmanager
def acting_as_app_role():
    """Inside the test's transaction: the non-owner, NOBYPASSRLS role the app connects as.

    The role and its grants are made inside the test transaction, so they vanish with it.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [APP_ROLE])
        if cursor.fetchone() is None:
            cursor.execute(f"CREATE ROLE {APP_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS")
        cursor.execute(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}")
        cursor.execute(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}"
        )
        cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}")
        cursor.execute(f"SET LOCAL ROLE {APP_ROLE}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")
