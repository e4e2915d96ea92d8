"""SQL fragments of the segmentation run and the tuning of its transaction.

The run's statements (``segments``) are built from these parts: the views CTE, the
last-view probe, and the readers and writers of rows computed in Python. The same SQL
runs on PostgreSQL and SQLite but for these backend branches, all of them here (the
advisory lock aside, in ``runs``):

* on PostgreSQL the run's transaction raises ``work_mem`` (sorts stay in memory), makes
  parallel plans cheaper, turns JIT compilation off (it cost more than it saved) and does
  not wait for the commit's WAL flush (derived rows: a crash loses at most this run, and
  the previous one stays current): ``tune_transaction``;
* the aggregates run without plain index scans: ``without_index_scans``;
* the views' roll-ups, where they pay: ``views_cte``, ``views_rollups_pay``;
* the JSON reader (``jsonb_array_elements`` on PostgreSQL, ``json_each`` on SQLite):
  ``json_rows``;
* fixed-width columns between the database and NumPy: read by ``fetch_columns`` (one
  ``bytea`` of packed rows on PostgreSQL, rows fetched on SQLite) and sent by
  ``computed_rows`` (a binary ``COPY … FROM STDIN`` into a temporary table on
  PostgreSQL, the JSON reader on SQLite).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
import psycopg
from django.db import connection

from activities.models import MaterialView, RepMaterialSpan, RepViewDay, ViewRollupMark
from pse_crm import rls

__all__ = [
    "code_names_sql",
    "computed_rows",
    "epoch_sql",
    "fetch_columns",
    "json_rows",
    "last_view_sql",
    "statement_alongside",
    "tune_transaction",
    "views_cte",
    "views_rollups_pay",
    "without_index_scans",
]


def tune_transaction() -> None:
    """On PostgreSQL, tune the run's transaction (``SET LOCAL``: this transaction only).

    Call it inside the run's transaction, before its first statement.
    """
    if connection.vendor != "postgresql":
        return
    local_settings = {
        # The run sorts and hashes ~one row per rep several times: keep that in memory
        # instead of spilling to disk at the 4 MB default.
        "work_mem": "64MB",
        # Parallel workers are worth their start-up for the aggregates over the views.
        "parallel_setup_cost": "100",
        "parallel_tuple_cost": "0.01",
        # The workers scan and sort; the leader only merges what they send and finishes
        # the per-rep groups. Scanning a share as well made it the last to finish: with
        # two cores, three processes took turns (bench/segmentation.py's data: the
        # aggregates alone 650–664 against 521–593 ms, whole runs alternated 12 times
        # 1,132 against 1,060 ms). Where no worker starts, the leader runs the plan.
        "parallel_leader_participation": "off",
        # The statements are few and run once: compiling them costs more than it saves.
        "jit": "off",
        # Derived rows: a crash in the instant after commit loses this run, never
        # consistency (the previous run stays current), so skip the wait for the flush.
        "synchronous_commit": "off",
    }
    # For this transaction only (``SET LOCAL``), in one round trip.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT " + ", ".join(["set_config(%s, %s, true)"] * len(local_settings)),
            [value for pair in local_settings.items() for value in pair],
        )


def epoch_sql(column: str) -> str:
    """A datetime column as seconds since 1970 (a float; NULL stays NULL)."""
    if connection.vendor == "postgresql":
        return f"CAST(EXTRACT(EPOCH FROM {column}) AS double precision)"
    # Django stores SQLite datetimes as UTC text, which julianday reads.
    return f"((julianday({column}) - 2440587.5) * 86400.0)"


@contextmanager
def without_index_scans() -> Iterator[None]:
    """On PostgreSQL, no plain index scans for the block (this transaction only).

    The aggregates read a large share of a table (the deals, the roll-ups; all the
    window's views without them); an index on (tenant, rep, …) offers the rows in rep
    order, and with some statistics the planner takes it over a parallel scan: on the
    views, 2.5 million random heap reads, measured 4.9 s instead of 1.9 s. Bitmap scans
    (the roll-ups' part-days, the few probes) stay allowed.
    """
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('enable_indexscan', 'off', true)")
    yield
    # (After an error the transaction rolls back, and the setting with it.)
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('enable_indexscan', 'on', true)")


def views_cte(*, rollups: bool) -> str:
    """SQL for the CTE ``v``: per rep, ``views`` and ``materials`` (distinct) in the view
    window ``(views_from, as_of]`` and ``last_view``, the last view at or before ``as_of``
    (in the window or before it; without the roll-ups, only in the window: see
    ``last_view_sql``). A rep may have no row (the caller joins it to the reps).

    With ``rollups`` (PostgreSQL, where triggers keep them): from ``RepViewDay`` and
    ``RepMaterialSpan``, which hold the views up to the tenant's mark, and the views above
    it (``tail``, a range of the primary key; the parameter ``folded``, the mark read by
    ``activities.services.rollups.view_rollups_mark``, bounds it for the planner), in one
    snapshot, instead of every view. On the demo generator's data that reads about 0.65
    million roll-up rows and the ~1% of views on the window's two part-days, instead of
    sorting 1.5 million views to count distinct materials. Exact for any ``as_of``:

    * views: the whole UTC days strictly inside the window from ``RepViewDay`` and the
      tail, the two part-days at its ends from the views themselves (an index range
      each);
    * distinct materials: a rolled-up (rep, material) pair counts when its last view is
      in the window, or its first view is; when neither settles it (first before the
      window, last after ``as_of``: only a run as of the past meets many) the views are
      asked; a pair of the tail's views in the window counts unless a rolled-up pair
      spanning the window already settled it one of those ways;
    * last view: the latest of the pairs' last views at or before ``as_of`` and the
      tail's; a rep with a pair that also has views after ``as_of`` is ``unsettled``, and
      the segment statement asks the views (one index probe, see ``last_view_sql``).

    Without: one pass over the window's views (SQLite; PostgreSQL where the roll-ups
    would not pay, see ``views_rollups_pay``).
    """
    mv = MaterialView._meta.db_table
    if not rollups:
        # (A rep without a view in the window has no row; the segment statement asks the
        # views for its last view before the window: see ``last_view_sql``.)
        return f"""
    v AS (
        SELECT rep_id, COUNT(*) AS views, COUNT(DISTINCT material_id) AS materials,
               MAX(viewed_at) AS last_view, FALSE AS unsettled
        FROM {mv}
        WHERE tenant_id = %(tenant)s AND viewed_at > %(views_from)s AND viewed_at <= %(as_of)s
        GROUP BY rep_id
    )"""
    return f"""
    tail AS (
        -- The views above the mark, at or before as_of (few, normally, since the last
        -- fold). The mark as this statement's snapshot has it, with the roll-ups: a fold
        -- may have raised it since ``folded`` was read, which bounds the range for the
        -- planner (a mark never moves down, so the two together are the snapshot's).
        SELECT rep_id, material_id, viewed_at
        FROM {mv}
        WHERE tenant_id = %(tenant)s AND id > %(folded)s
          AND id > COALESCE((
              SELECT folded_through FROM {ViewRollupMark._meta.db_table}
              WHERE tenant_id = %(tenant)s
          ), 0)
          AND viewed_at <= %(as_of)s
    ),
    days AS (
        SELECT rep_id, SUM(views) AS views
        FROM (
            SELECT rep_id, views
            FROM {RepViewDay._meta.db_table}
            WHERE tenant_id = %(tenant)s AND day > %(first_day)s AND day < %(last_day)s
            UNION ALL
            SELECT rep_id, 1 FROM tail
            WHERE viewed_at >= %(first_day_end)s AND viewed_at < %(last_day_start)s
        ) whole_days
        GROUP BY rep_id
    ),
    part_days AS (
        SELECT rep_id, COUNT(*) AS views
        FROM {mv}
        WHERE tenant_id = %(tenant)s
          AND ((viewed_at > %(views_from)s AND viewed_at < %(first_day_end)s)
               OR (viewed_at >= %(last_day_start)s AND viewed_at <= %(as_of)s))
        GROUP BY rep_id
    ),
    pairs AS (
        -- No subquery in here, so that workers can aggregate it in parallel.
        SELECT rep_id,
               COUNT(*) FILTER (
                   WHERE first_viewed_at <= %(as_of)s AND last_viewed_at > %(views_from)s
                     AND (last_viewed_at <= %(as_of)s OR first_viewed_at > %(views_from)s)
               ) AS materials,
               MAX(last_viewed_at) FILTER (WHERE last_viewed_at <= %(as_of)s) AS last_settled,
               BOOL_OR(first_viewed_at <= %(as_of)s AND last_viewed_at > %(as_of)s)
                   AS unsettled
        FROM {RepMaterialSpan._meta.db_table}
        WHERE tenant_id = %(tenant)s
        GROUP BY rep_id
    ),
    straddling AS (
        -- Pairs viewed before the window and after as_of: in the window only if viewed
        -- in it too.
        SELECT p.rep_id, COUNT(*) AS materials
        FROM {RepMaterialSpan._meta.db_table} p
        WHERE p.tenant_id = %(tenant)s
          AND p.first_viewed_at <= %(views_from)s AND p.last_viewed_at > %(as_of)s
          AND EXISTS (
              SELECT FROM {mv} m
              WHERE m.tenant_id = %(tenant)s AND m.rep_id = p.rep_id
                AND m.material_id = p.material_id
                AND m.viewed_at > %(views_from)s AND m.viewed_at <= %(as_of)s
          )
        GROUP BY p.rep_id
    ),
    tail_pairs AS (
        -- The tail's pairs in the window that no rolled-up pair counted above: one
        -- spanning the window is counted there (by its span, or by ``straddling``, which
        -- asks every view, the tail's too).
        SELECT t.rep_id, COUNT(DISTINCT t.material_id) AS materials
        FROM tail t
        WHERE t.viewed_at > %(views_from)s
          AND NOT EXISTS (
              SELECT FROM {RepMaterialSpan._meta.db_table} p
              WHERE p.tenant_id = %(tenant)s AND p.rep_id = t.rep_id
                AND p.material_id = t.material_id
                AND p.first_viewed_at <= %(as_of)s AND p.last_viewed_at > %(views_from)s
          )
        GROUP BY t.rep_id
    ),
    tail_last AS (
        SELECT rep_id, MAX(viewed_at) AS last_view FROM tail GROUP BY rep_id
    ),
    seen AS (
        -- Every rep with a rolled-up pair or a view in the tail.
        SELECT COALESCE(pairs.rep_id, tail_last.rep_id) AS rep_id,
               pairs.materials, pairs.unsettled,
               -- (GREATEST ignores a NULL.)
               GREATEST(pairs.last_settled, tail_last.last_view) AS last_view
        FROM pairs FULL JOIN tail_last ON tail_last.rep_id = pairs.rep_id
    ),
    v AS (
        SELECT seen.rep_id,
               COALESCE(days.views, 0) + COALESCE(part_days.views, 0) AS views,
               COALESCE(seen.materials, 0) + COALESCE(straddling.materials, 0)
                   + COALESCE(tail_pairs.materials, 0) AS materials,
               seen.last_view, COALESCE(seen.unsettled, FALSE) AS unsettled
        FROM seen
        LEFT JOIN days ON days.rep_id = seen.rep_id
        LEFT JOIN part_days ON part_days.rep_id = seen.rep_id
        LEFT JOIN straddling ON straddling.rep_id = seen.rep_id
        LEFT JOIN tail_pairs ON tail_pairs.rep_id = seen.rep_id
    )"""


def last_view_sql(*, rollups: bool, row: str) -> str:
    """The segment's last view, from the aggregates' row ``row`` (its ``rep_id``,
    ``last_view`` and ``unsettled``): the few reps the aggregates could not settle ask
    the views (one backward index-only probe each)."""
    probe = f"""(
               SELECT MAX(mv2.viewed_at) FROM {MaterialView._meta.db_table} mv2
               WHERE mv2.tenant_id = %(tenant)s AND mv2.rep_id = {row}.rep_id
                 AND mv2.viewed_at <= %(as_of)s
           )"""
    if rollups:
        # A rep with views after as_of: its settled pairs may miss a later one before it.
        return f"CASE WHEN {row}.unsettled THEN {probe} ELSE {row}.last_view END"
    # Without a view in the window: the last one before it.
    return f"COALESCE({row}.last_view, {probe})"


def _estimated_rows(sql: str, params: dict) -> float:
    """The planner's estimate of the rows ``sql`` returns (no execution)."""
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        (plan,) = cursor.fetchone()  # psycopg parses the JSON
    return float(plan[0]["Plan"]["Plan Rows"])


def views_rollups_pay(params: dict) -> bool:
    """Whether to read the views' roll-ups rather than the window's views.

    Only PostgreSQL keeps them (triggers; SQLite, the demo, has none). Both ways give the
    same figures (a property test holds them to it); which is faster depends on the
    data. The roll-ups win where views crowd onto a few reps and materials (the demo
    generator's 1.5 million views in the window make 0.4 million rep-days and 0.25
    million rep-material pairs: a run in 1.2 s instead of 2.3 s), and lose where views
    spread thinly (the segmentation bench's own 0.5 million views in the window sit
    among 1.3 million pairs). So: the roll-ups when the planner estimates fewer of their
    rows to read than views in the window, a pair that needs the views weighing as 20
    views (a run as of the past meets many) and a view above the mark (``params``'
    ``folded``) as 3 (read from the heap, then a pair probed for it). Five plans, no
    execution: a few ms.
    """
    if connection.vendor != "postgresql":
        return False
    views = _estimated_rows(
        f"SELECT 1 FROM {MaterialView._meta.db_table} WHERE tenant_id = %(tenant)s"
        " AND viewed_at > %(views_from)s AND viewed_at <= %(as_of)s",
        params,
    )
    days = _estimated_rows(
        f"SELECT 1 FROM {RepViewDay._meta.db_table} WHERE tenant_id = %(tenant)s"
        " AND day > %(first_day)s AND day < %(last_day)s",
        params,
    )
    pairs = _estimated_rows(
        f"SELECT 1 FROM {RepMaterialSpan._meta.db_table} WHERE tenant_id = %(tenant)s", params
    )
    # Pairs viewed before the window and after as_of (a run as of the past) each ask the
    # views of their rep in the window: weigh them as many views.
    straddling = _estimated_rows(
        f"SELECT 1 FROM {RepMaterialSpan._meta.db_table} WHERE tenant_id = %(tenant)s"
        " AND first_viewed_at <= %(views_from)s AND last_viewed_at > %(as_of)s",
        params,
    )
    tail = _estimated_rows(
        f"SELECT 1 FROM {MaterialView._meta.db_table} WHERE tenant_id = %(tenant)s"
        " AND id > %(folded)s",
        params,
    )
    return days + pairs + 20 * straddling + 3 * tail < views


def json_rows(columns: dict[str, str]) -> str:
    """A subquery of typed columns over one JSON parameter, a list of lists (one per row).

    A single parameter whatever the number of rows: a ``VALUES`` list would bind one per
    value, and converting thousands of placeholders costs the client more than the
    statement costs the server (SQLite also caps them at 32,766).
    """
    if connection.vendor == "postgresql":
        selected = ", ".join(
            f"CAST(e.value ->> {i} AS {sql_type}) AS {name}"
            for i, (name, sql_type) in enumerate(columns.items())
        )
        return f"(SELECT {selected} FROM jsonb_array_elements(CAST(%s AS jsonb)) AS e(value))"
    selected = ", ".join(
        f"json_extract(e.value, '$[{i}]') AS {name}" for i, name in enumerate(columns)
    )
    return f"(SELECT {selected} FROM json_each(%s) AS e)"


# The fixed-width SQL types moved between the database and NumPy: their NumPy type in
# PostgreSQL's binary format (big-endian; a boolean is one byte, 0 or 1) and the function
# that gives a value in that format.
_BINARY_TYPES = {
    "bigint": (">i8", "int8send"),
    "smallint": (">i2", "int2send"),
    "boolean": ("?", "boolsend"),
    "double precision": (">f8", "float8send"),
}
# The binary COPY format's header (signature, flags 0, no header extension) and trailer
# (a field count of -1).
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
_COPY_TRAILER = b"\xff\xff"


def _copy_dtype(sql_types: list[str]) -> np.dtype:
    """One binary COPY tuple of these fixed-width types: the field count, then each
    field's length and value (packed, as on the wire)."""
    fields: list[tuple[str, str]] = [("count", ">i2")]
    for i, sql_type in enumerate(sql_types):
        fields += [(f"length{i}", ">i4"), (f"value{i}", _BINARY_TYPES[sql_type][0])]
    return np.dtype(fields)


def _unpack_rows(data: bytes, rows: int, columns: Mapping[str, str]) -> dict:
    """``rows`` rows of fixed-width values packed back to back (``{name: sql type}``, each
    value in PostgreSQL's binary format) as one native NumPy array per column. Fewer
    bytes than that many rows fill (a NULL drops its row from the aggregate) raises."""
    dtype = np.dtype([(name, _BINARY_TYPES[t][0]) for name, t in columns.items()])
    if len(data) != rows * dtype.itemsize:
        raise ValueError(
            f"{rows} rows expected, {len(data)} bytes read: a NULL in a column other than"
            " a double precision one?"
        )
    packed = np.frombuffer(data, dtype=dtype, count=rows)
    return {name: packed[name].astype(packed[name].dtype.newbyteorder("=")) for name in columns}


def _raw_connection() -> psycopg.Connection:
    """This thread's psycopg connection, ready for a statement that bypasses Django's
    cursors (and so its execute wrapper): connected, the tenant wall's settings made to
    match the scope, and, as Django's cursors check, not in a transaction marked for
    rollback (where ``rls.sync`` would not update the settings)."""
    connection.ensure_connection()
    connection.validate_no_broken_transaction()
    rls.sync(connection)
    return connection.connection


def fetch_columns(columns: Mapping[str, tuple[str, str]], from_sql: str, *, order_by: str) -> dict:
    """The rows of ``SELECT … {from_sql} ORDER BY {order_by}`` (no parameters) as one NumPy
    array per column: ``{name: (sql type, expression)}``, the types those of
    ``_BINARY_TYPES``. A NULL ``double precision`` reads as NaN; a NULL of another type
    raises.

    On PostgreSQL the rows come as one ``bytea``: each row's values in binary, packed by
    one ``string_agg`` (at most 1 GB, 20 million rows of seven figures), fetched in the
    binary format and read by ``numpy.frombuffer``; no Python object per row. For the
    run's 49,000 rows of seven figures: 59 ms against 151 ms to fetch the rows and convert
    them (medians of 9; a binary ``COPY … TO STDOUT`` took 159 ms: PostgreSQL sends it one
    message per row, which psycopg reads one by one). Elsewhere (SQLite) the rows are
    fetched.
    """
    names = list(columns)
    if connection.vendor == "postgresql":
        packed = " || ".join(
            f"{_BINARY_TYPES[sql_type][1]}("
            + (
                f"COALESCE(CAST({expr} AS double precision), 'NaN')"
                if sql_type == "double precision"
                else f"CAST({expr} AS {sql_type})"
            )
            + ")"
            for sql_type, expr in columns.values()
        )
        statement = f"SELECT COUNT(*), string_agg({packed}, '' ORDER BY {order_by}) {from_sql}"
        # Django's cursors bind parameters on the client, which gives text results only:
        # a plain psycopg cursor on the same connection (and transaction) for the binary
        # ``bytea``, psycopg's errors still turned into Django's.
        with connection.wrap_database_errors, psycopg.Cursor(_raw_connection()) as cursor:
            cursor.execute(statement, binary=True)
            count, data = cursor.fetchone()
        return _unpack_rows(data or b"", count, {n: t for n, (t, _) in columns.items()})
    with connection.cursor() as cursor:
        selected = ", ".join(expr for _, expr in columns.values())
        cursor.execute(f"SELECT {selected} {from_sql} ORDER BY {order_by}")
        rows = np.array(cursor.fetchall(), dtype=object).reshape(-1, len(names))
    out = {}
    for i, (name, (sql_type, _)) in enumerate(columns.items()):
        native = np.dtype(_BINARY_TYPES[sql_type][0]).newbyteorder("=")
        if native.kind != "f" and any(v is None for v in rows[:, i]):
            raise ValueError(f"column {name} has NULL values")
        out[name] = rows[:, i].astype(native)  # (None: NaN for a float)
    return out


@contextmanager
def computed_rows(table: str, columns: Mapping[str, tuple[str, np.ndarray]]) -> Iterator:
    """Rows computed in NumPy, one array per column (``{name: (sql type, values)}``, the
    types those of ``_BINARY_TYPES``), readable in the block as the table or subquery it
    yields with its parameters: ``with computed_rows(...) as (rows_sql, params):``.

    On PostgreSQL a temporary table ``table``, filled by one binary ``COPY … FROM STDIN``
    (the arrays' bytes, no text per value) and dropped after the block. Elsewhere
    (SQLite) ``json_rows`` over the same values.
    """
    if connection.vendor != "postgresql":
        values = [array.tolist() for _, array in columns.values()]
        rows = json.dumps([list(row) for row in zip(*values, strict=True)])
        yield json_rows({name: sql_type for name, (sql_type, _) in columns.items()}), [rows]
        return
    sql_types = [sql_type for sql_type, _ in columns.values()]
    arrays = [array for _, array in columns.values()]
    rows = np.empty(len(arrays[0]) if arrays else 0, dtype=_copy_dtype(sql_types))
    rows["count"] = len(arrays)
    for i, (sql_type, array) in enumerate(zip(sql_types, arrays, strict=True)):
        rows[f"length{i}"] = np.dtype(_BINARY_TYPES[sql_type][0]).itemsize
        if np.shape(array) != rows.shape:
            raise ValueError(f"column {i}: {np.shape(array)} values for {rows.shape} rows")
        # Safe casts only: a value the SQL type cannot hold raises, never wraps around.
        np.copyto(rows[f"value{i}"], array, casting="safe")
    definition = ", ".join(f"{name} {sql_type}" for name, (sql_type, _) in columns.items())
    with connection.cursor() as cursor:
        # (pg_temp: never a permanent table of the same name.)
        cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{table}")
        cursor.execute(f"CREATE TEMPORARY TABLE {table} ({definition})")
        # (A psycopg COPY: Django's cursors have none. Into a temporary table, which has
        # no tenant wall; synced all the same, as for any raw-driver statement.)
        rls.sync(connection)
        with (
            connection.wrap_database_errors,
            cursor.cursor.copy(f"COPY {table} FROM STDIN (FORMAT binary)") as copy,
        ):
            copy.write(_COPY_HEADER + rows.tobytes() + _COPY_TRAILER)
    yield table, []
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE pg_temp.{table}")


@contextmanager
def statement_alongside(sql: str, params: Sequence) -> Iterator[None]:
    """Execute one statement (``%s`` parameters) while the block runs; its error, if
    any, is raised when the block ends.

    On PostgreSQL the server executes it while the block's Python runs: the statement is
    sent from a thread over the same connection (and transaction), by a cursor of the
    connection's own factory (Django's binding), and the block ends by waiting for it.
    So the block must not use the database: the connection is the statement's until it
    ends (psycopg serialises its use, so a stray query would wait, not interleave). On a
    run of 49,000 reps that overlaps the segments' ``INSERT`` with the partner figures
    and statistics computed in NumPy. If the block raises (an interrupt, a Celery soft
    time limit), the statement is cancelled on the server first: the transaction is
    lost anyway, and a statement waiting on a lock must not hold the worker. Like the
    other raw-driver statements here, it is not in Django's query log or the statement
    metrics. Elsewhere (SQLite) the statement runs before the block.
    """
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
        yield
        return
    raw = _raw_connection()

    def execute() -> None:
        with raw.cursor() as cursor:
            cursor.execute(sql, params)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="statement-alongside") as pool:
        done = pool.submit(execute)
        try:
            yield
        except BaseException as exc:
            raw.cancel_safe(timeout=10)
            # (The block's error is the one raised; the statement's, if any, is noted.)
            error = done.exception()
            if error is not None and not isinstance(error, psycopg.errors.QueryCanceled):
                exc.add_note(f"The statement alongside failed too: {error!r}")
            raise
        error = done.exception()
        if error is not None:
            with connection.wrap_database_errors:
                raise error


def code_names_sql(column: str, names: list[str]) -> tuple[str, list]:
    """SQL for the name of code ``column`` (0, 1, … index ``names``; any other code,
    -1 say, is NULL), and its parameters."""
    whens = " ".join(f"WHEN {code} THEN %s" for code in range(len(names)))
    return f"(CASE {column} {whens} END)", list(names)
