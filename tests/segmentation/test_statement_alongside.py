"""``statement_alongside``: one statement executed while a block of Python runs, in the
same transaction. What it writes is there after the block, its error is raised after
the block (and the transaction then rolls back), the block's own error wins, the tenant
wall is the scope's of the moment, and on PostgreSQL the block runs while the server is
still executing."""

from __future__ import annotations

import time

import pytest
from django.db import IntegrityError, connection, transaction

from pse_crm.tenancy import tenant_scope
from reps.models import Rep
from segmentation.services.sql import statement_alongside
from tests.hardening.conftest import acting_as_app_role
from tests.reps.factories import RepFactory

pytestmark = pytest.mark.django_db

POSTGRESQL = connection.vendor == "postgresql"


def _names(tenant) -> list[str]:
    with tenant_scope(tenant):
        return sorted(Rep.objects.values_list("name", flat=True))


def test_what_the_statement_writes_is_there_after_the_block(tenant):
    rep = RepFactory(tenant=tenant, name="Before")
    ran = []
    with transaction.atomic(), tenant_scope(tenant):
        with statement_alongside("UPDATE reps_rep SET name = %s WHERE id = %s", ["After", rep.pk]):
            ran.append(True)
        assert Rep.objects.get(pk=rep.pk).name == "After"
    assert ran == [True]


def test_the_statements_error_is_raised_after_the_block_and_nothing_stays(tenant):
    rep = RepFactory(tenant=tenant, name="Kept")
    finished = []
    with (
        pytest.raises(IntegrityError, match=r"(?i)null"),
        transaction.atomic(),
        tenant_scope(tenant),
    ):
        Rep.objects.filter(pk=rep.pk).update(name="Changed in the transaction")
        with statement_alongside("UPDATE reps_rep SET name = NULL WHERE id = %s", [rep.pk]):
            finished.append(True)  # the block runs to its end all the same
    assert finished == [True]
    assert _names(tenant) == ["Kept"]  # the whole transaction rolled back


@pytest.mark.skipif(not POSTGRESQL, reason="the statement runs alongside on PostgreSQL only")
def test_the_blocks_error_cancels_the_statement_and_wins(tenant):
    """A block that fails (an interrupt, a soft time limit) does not wait out the
    statement: it is cancelled on the server, the block's error is raised, and after the
    rollback the connection serves the next statement."""
    RepFactory(tenant=tenant, name="Kept")
    started = time.perf_counter()
    with (
        pytest.raises(KeyError) as raised,
        transaction.atomic(),
        tenant_scope(tenant),
        statement_alongside("SELECT pg_sleep(%s)", [30]),
    ):
        raise KeyError("the block failed")
    assert time.perf_counter() - started < 10  # not the statement's 30 s
    assert not getattr(raised.value, "__notes__", None)  # (cancelled: nothing to note)
    assert _names(tenant) == ["Kept"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def test_the_statements_own_error_is_noted_on_the_blocks(tenant):
    """Both failed: the block's error is raised, with the statement's in a note."""
    rep = RepFactory(tenant=tenant, name="Kept")
    with (
        pytest.raises(KeyError) as raised,
        transaction.atomic(),
        tenant_scope(tenant),
        statement_alongside("UPDATE reps_rep SET name = NULL WHERE id = %s", [rep.pk]),
    ):
        time.sleep(0.5)  # (the statement fails before the block does)
        raise KeyError("the block failed")
    if POSTGRESQL:
        assert "statement alongside failed too" in " ".join(raised.value.__notes__)
    assert _names(tenant) == ["Kept"]


@pytest.mark.skipif(not POSTGRESQL, reason="row-level security is PostgreSQL's")
def test_the_statement_is_held_by_the_tenant_wall_of_the_scope_now(tenant, other_tenant):
    """Switching scope and writing at once (no Django statement between): only the new
    scope's rows change."""
    RepFactory(tenant=tenant, name="Ours")
    RepFactory(tenant=other_tenant, name="Theirs")
    with transaction.atomic(), acting_as_app_role():
        with tenant_scope(tenant):
            assert _names(tenant) == ["Ours"]  # the settings: ours
        with (
            tenant_scope(other_tenant),
            statement_alongside("UPDATE reps_rep SET name = name || %s", [" (seen)"]),
        ):
            pass
        assert _names(tenant) == ["Ours"]
        assert _names(other_tenant) == ["Theirs (seen)"]


@pytest.mark.skipif(not POSTGRESQL, reason="the statement runs alongside on PostgreSQL only")
def test_the_block_runs_while_the_server_executes():
    """A statement of 1.5 s on the server: the block starts at once, and the block's end
    waits for the statement. Run before the block, it would delay the block's start."""
    with transaction.atomic():
        started = time.perf_counter()
        with statement_alongside("SELECT pg_sleep(%s)", [1.5]):
            entered = time.perf_counter() - started
        took = time.perf_counter() - started
    assert entered < 0.75 and took >= 1.5
