"""System checks (``manage.py check``) for what the code needs of its environment."""

from __future__ import annotations

import sqlite3

from django.core import checks
from django.db import connections

# The segmentation run's INSERT … RETURNING and JSON reader (segmentation/services/
# segments.py, sql.py) need SQLite 3.35 with JSON1, where Django itself accepts 3.31.
MIN_SQLITE = (3, 35, 0)


@checks.register(checks.Tags.compatibility)
def sqlite_version_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    uses_sqlite = any(connections[alias].vendor == "sqlite" for alias in connections.settings)
    if not uses_sqlite or sqlite3.sqlite_version_info >= MIN_SQLITE:
        return []
    return [
        checks.Error(
            f"SQLite {sqlite3.sqlite_version} is too old: PSE CRM needs "
            f"{'.'.join(map(str, MIN_SQLITE))} or newer (RETURNING, JSON functions).",
            hint="Use a Python built against a newer SQLite, or PostgreSQL (DATABASE_URL).",
            id="pse_crm.E001",
        )
    ]


@checks.register(checks.Tags.security)
def field_encryption_key_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """FIELD_ENCRYPTION_KEY: Fernet keys, comma-separated (stored Salesforce secrets)."""
    from pse_crm.encryption import field_fernet

    try:
        field_fernet()
    except ValueError:
        return [
            checks.Error(
                "FIELD_ENCRYPTION_KEY is not a list of Fernet keys (32 url-safe base64 bytes).",
                hint='Make one with: python -c "from cryptography.fernet import Fernet; '
                'print(Fernet.generate_key().decode())"',
                id="pse_crm.E002",
            )
        ]
    return []
