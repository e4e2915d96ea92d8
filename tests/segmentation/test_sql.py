"""The run's columns between the database and NumPy (``segmentation.services.sql``): what
``fetch_columns`` reads equals the rows a plain ``SELECT`` fetches, what
``computed_rows`` sends reads back unchanged, and a NULL, a cut stream or a wrong width
raises instead of turning into numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pse_crm.tenancy import tenant_scope
from reps.models import Rep
from segmentation.services.sql import (
    _unpack_rows,
    code_names_sql,
    computed_rows,
    fetch_columns,
)
from tests.hardening.conftest import acting_as_app_role
from tests.reps.factories import RepFactory

pytestmark = pytest.mark.django_db

INT8 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
INT2 = st.integers(min_value=-(2**15), max_value=2**15 - 1)
FLOATS = st.floats(allow_nan=False, allow_infinity=False)
ROWS = st.lists(st.tuples(INT8, INT2, st.booleans(), FLOATS), max_size=40)
COLUMNS = {"a": "bigint", "b": "smallint", "c": "boolean", "d": "double precision"}


def _sent(rows: list[tuple]) -> dict:
    return {
        "a": ("bigint", np.array([r[0] for r in rows], dtype=np.int64)),
        "b": ("smallint", np.array([r[1] for r in rows], dtype=np.int16)),
        "c": ("boolean", np.array([r[2] for r in rows], dtype=bool)),
        "d": ("double precision", np.array([r[3] for r in rows], dtype=float)),
    }


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
@given(rows=ROWS)
def test_rows_sent_read_back_unchanged_and_equal_to_a_plain_select(rows):
    """A round trip of any values, extremes included: sent by ``computed_rows``, read by
    ``fetch_columns`` and, for comparison, by a plain ``SELECT`` fetching Python rows."""
    with transaction.atomic(), computed_rows("t_sent", _sent(rows)) as (sql, params):
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE TEMPORARY TABLE t_read AS SELECT * FROM {sql} s", params)
            cursor.execute("SELECT a, b, c, d FROM t_read ORDER BY a, b, c, d")
            fetched = cursor.fetchall()
        read = fetch_columns(
            {name: (sql_type, name) for name, sql_type in COLUMNS.items()},
            "FROM t_read",
            order_by="a, b, c, d",
        )
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE t_read")
    assert sorted(rows) == [(a, b, bool(c), d) for a, b, c, d in fetched]
    assert [tuple(x.item() for x in row) for row in zip(*read.values(), strict=True)] == [
        (a, b, bool(c), d) for a, b, c, d in fetched
    ]
    assert [read[name].dtype for name in COLUMNS] == [np.int64, np.int16, bool, np.float64]


def test_a_null_float_reads_as_nan_and_no_rows_as_empty_arrays():
    columns = {"n": ("bigint", "n"), "f": ("double precision", "f")}
    read = fetch_columns(
        columns, "FROM (SELECT 1 AS n, NULL AS f UNION ALL SELECT 2, 2.5) t", order_by="n"
    )
    assert read["n"].tolist() == [1, 2]
    assert math.isnan(read["f"][0]) and read["f"][1] == 2.5
    empty = fetch_columns(columns, "FROM (SELECT 1 AS n, 1.0 AS f) t WHERE n = 0", order_by="n")
    assert [len(a) for a in empty.values()] == [0, 0]
    assert empty["n"].dtype == np.int64


def test_a_null_integer_raises():
    with pytest.raises(ValueError, match="NULL"):
        fetch_columns(
            {"k": ("bigint", "k"), "n": ("bigint", "n")},
            "FROM (SELECT 1 AS k, 5 AS n UNION ALL SELECT 2, NULL) t",
            order_by="k",
        )


def test_nothing_is_left_behind_after_the_block():
    with transaction.atomic():
        with (
            computed_rows("t_gone", _sent([(1, 2, True, 0.5)])) as (sql, params),
            connection.cursor() as cursor,
        ):
            cursor.execute(f"SELECT COUNT(*) FROM {sql} s", params)
            assert cursor.fetchone()[0] == 1
        # A second block of the same name in the same transaction: no clash.
        with (
            computed_rows("t_gone", _sent([])) as (sql, params),
            connection.cursor() as cursor,
        ):
            cursor.execute(f"SELECT COUNT(*) FROM {sql} s", params)
            assert cursor.fetchone()[0] == 0
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT to_regclass('pg_temp.t_gone')")
                assert cursor.fetchone()[0] is None


def test_code_names_sql_names_each_code_and_nulls_any_other():
    name, params = code_names_sql("c.code", ["top", "middle", "bottom"])
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {name} FROM (SELECT -1 AS code UNION ALL SELECT 0 UNION ALL SELECT 2"
            " UNION ALL SELECT 3) c ORDER BY c.code",
            params,
        )
        assert [row[0] for row in cursor.fetchall()] == [None, "top", "bottom", None]


# The unpacking on its own, no database: values packed as PostgreSQL's send functions
# give them (big-endian, back to back).

PACKED = {"k": "bigint", "x": "double precision", "b": "boolean", "s": "smallint"}


def _packed(values: list[tuple[int, float, bool, int]]) -> bytes:
    return b"".join(
        k.to_bytes(8, "big", signed=True)
        + np.array(x, dtype=">f8").tobytes()
        + bytes([b])
        + s.to_bytes(2, "big", signed=True)
        for k, x, b, s in values
    )


def test_unpacking_reads_big_endian_values_into_native_arrays():
    values = [(7, 1.5, True, -1), (-(2**63), -0.25, False, 2**15 - 1)]
    read = _unpack_rows(_packed(values), 2, PACKED)
    assert list(zip(*(a.tolist() for a in read.values()), strict=True)) == values
    assert all(a.dtype.isnative for a in read.values())


@pytest.mark.parametrize("rows", [1, 3])
def test_unpacking_rejects_bytes_that_do_not_fill_the_rows_counted(rows):
    """A row with a NULL drops out of the aggregate, so fewer bytes than rows: raise."""
    with pytest.raises(ValueError, match="NULL"):
        _unpack_rows(_packed([(7, 1.5, True, 1), (8, 2.5, False, 2)]), rows, PACKED)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row-level security is PostgreSQL's")
def test_the_binary_read_is_held_by_the_tenant_wall_of_the_scope_now(tenant, other_tenant):
    """The read bypasses Django's execute wrapper, which keeps the wall's settings in step
    with the tenant scope: it must sync them itself. Switching scope and reading at once
    (no Django statement between) shows the wall of the new scope, not the old one."""
    ours = {RepFactory(tenant=tenant).pk for _ in range(2)}
    theirs = {RepFactory(tenant=other_tenant).pk}
    columns = {"id": ("bigint", "id")}
    with transaction.atomic(), acting_as_app_role():
        with tenant_scope(tenant):
            assert set(Rep.objects.values_list("pk", flat=True)) == ours  # settings: ours
            assert set(fetch_columns(columns, "FROM reps_rep", order_by="id")["id"]) == ours
        with tenant_scope(other_tenant):
            assert set(fetch_columns(columns, "FROM reps_rep", order_by="id")["id"]) == theirs


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the binary COPY is PostgreSQL's")
@pytest.mark.parametrize(
    "values",
    [
        np.array([40_000, 1], dtype=np.int64),  # does not fit a smallint: never wraps around
        np.array([1.5, 2.0]),  # a float into a smallint: never truncated
        np.array([1], dtype=np.int16),  # one value for two rows: never broadcast
    ],
)
def test_values_the_columns_cannot_hold_as_sent_raise(values):
    columns = {"a": ("bigint", np.array([1, 2], dtype=np.int64)), "b": ("smallint", values)}
    with (
        transaction.atomic(),
        pytest.raises((ValueError, TypeError)),
        computed_rows("t_bad", columns),
    ):
        pass
