"""The run's transaction settings (``segmentation.services.sql.tune_transaction``): set for
that transaction only, never for the connection's later work."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from segmentation.services.sql import tune_transaction

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL settings"),
]

TUNED = {
    "work_mem": "64MB",
    "jit": "off",
    "synchronous_commit": "off",
    "parallel_leader_participation": "off",
}


def _settings() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(["current_setting(%s)"] * len(TUNED)), list(TUNED))
        return dict(zip(TUNED, cursor.fetchone(), strict=True))


def test_the_run_tunes_its_own_transaction_only():
    before = _settings()
    assert before != TUNED
    with transaction.atomic():
        tune_transaction()
        assert _settings() == TUNED
    assert _settings() == before
