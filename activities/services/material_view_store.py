"""Storing validated material views: one transaction, COPY into a staging table and one
``INSERT … SELECT … ON CONFLICT (tenant_id, event_id) DO NOTHING`` per chunk on PostgreSQL,
``bulk_create`` elsewhere (SQLite, the demo). Validation is ``material_views``'.

``ChunkWriter`` stores the chunks on a second thread, on the caller's own connection and
inside its transaction, while the caller validates the next chunk: PostgreSQL works on
one core while Python works on the other (psycopg releases the GIL while it waits). Only
one thread uses the connection at a time: the caller ``wait()``s before its own queries.
A chunk whose first rows are stored already (a replay) sends only the rows not stored.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from activities.models import MaterialView
from pse_crm.models import Tenant

# A validated row: event_id, rep (an id, or the email of a rep to create), material id,
# viewed_at (aware), duration in seconds.
Valid = tuple[str, "int | str", int, dt.datetime, int]


class CheckedRows(Sequence):
    """A chunk's valid rows as the column check left them: the event_ids at once, a row
    only once it is asked for (``build(None)`` builds them all, ``build(positions)`` the
    rows at those positions, from 0). The writer probes the event_ids before it reads a
    row, so the rows of a replayed chunk, stored already, are never built: attaching the
    zone to their times and making their tuples was about a third of a replay's check."""

    __slots__ = ("_build", "_rows", "event_ids")

    def __init__(
        self, event_ids: list[str], build: Callable[[Sequence[int] | None], list[Valid]]
    ) -> None:
        self.event_ids = event_ids
        self._build = build
        self._rows: list[Valid] | None = None

    def rows(self) -> list[Valid]:
        """Every row (built once)."""
        if self._rows is None:
            self._rows = self._build(None)
        return self._rows

    def take(self, positions: Sequence[int]) -> list[Valid]:
        """The rows at ``positions`` (from 0), building only those."""
        if self._rows is not None:
            return [self._rows[i] for i in positions]
        return self._build(positions)

    def then(self, change: Callable[[list[Valid]], list[Valid]]) -> CheckedRows:
        """These rows with ``change`` applied to each list of them built, still lazily."""

        def build(positions: Sequence[int] | None) -> list[Valid]:
            return change(self.rows() if positions is None else self.take(positions))

        return CheckedRows(self.event_ids, build)

    def __len__(self) -> int:
        return len(self.event_ids)

    def __getitem__(self, index):
        return self.rows()[index]

    def __iter__(self) -> Iterator[Valid]:
        return iter(self.rows())


@dataclass
class Stored:
    created: int
    rep_ids: list[int]
    first_viewed_at: dt.datetime | None
    last_viewed_at: dt.datetime | None

    def add(self, other: Stored) -> None:
        """Fold in the result of a later chunk."""
        if not other.created:
            return
        self.created += other.created
        self.rep_ids = sorted({*self.rep_ids, *other.rep_ids})
        times = [t for t in (self.first_viewed_at, other.first_viewed_at) if t is not None]
        self.first_viewed_at = min(times)
        times = [t for t in (self.last_viewed_at, other.last_viewed_at) if t is not None]
        self.last_viewed_at = max(times)


_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: str) -> str:
    """A value in COPY's text format (backslash, tab, newline and CR escaped)."""
    return value.translate(_COPY_ESCAPES) if _COPY_SPECIAL.search(value) else value


_SEPARATOR = "\x1f"
# How many of a chunk's first event_ids are looked up to tell a replay from new rows.
_SAMPLE = 64
# A replayed chunk's stored neighbours read by one range of the unique index, at most this
# many times the chunk's rows; past that, one probe per row (``_not_stored``).
_RANGE_READ = 2


@dataclass
class ReplayProbe:
    """How a batch's replayed chunks are probed: ``ranges`` until one chunk's range did not
    answer (its event_ids did not lie side by side in the index: random ids, whose next
    chunks would not either), then one probe per row for the rest of the batch."""

    ranges: bool = True


def _not_stored(
    cursor,
    *,
    table: str,
    tenant_id: int,
    rows: Sequence[Valid],
    probe: ReplayProbe | None = None,
) -> Sequence[Valid]:
    """The rows of ``rows`` whose event_id the tenant has not stored (yet), when its first
    rows are stored already (a replay), else ``rows``; ``probe`` carries what the batch's
    earlier chunks found (default: a new one).

    A replayed row then costs one index probe, not the COPY, the staging table and the
    insert that ON CONFLICT would drop (nor, for ``CheckedRows``, being built); new rows
    cost the probes of the sample only. It only saves work: whatever is left is still
    inserted with ON CONFLICT DO NOTHING."""
    checked = isinstance(rows, CheckedRows)
    event_ids = rows.event_ids if checked else [row[0] for row in rows]
    cursor.execute(
        f"SELECT EXISTS (SELECT FROM {table} WHERE tenant_id = %s AND event_id = ANY(%s))",
        [tenant_id, event_ids[:_SAMPLE]],
    )
    if not cursor.fetchone()[0]:
        return rows
    # The event_ids as one string: adapting a list of 25,000 strings costs psycopg more
    # CPU (and GIL, which the checking thread wants) than the lookups cost PostgreSQL. A
    # valid event_id never holds the unit separator (a control character).
    joined = _SEPARATOR.join(event_ids)
    if joined.count(_SEPARATOR) == len(event_ids) - 1:
        ids_sql, ids = "string_to_array(%s, E'\\x1f')", joined
    else:
        ids_sql, ids = "%s::text[]", event_ids
    probe = ReplayProbe() if probe is None else probe
    stored = None
    if probe.ranges:
        stored = _stored_in_range(
            cursor,
            table=table,
            tenant_id=tenant_id,
            ids=(ids_sql, ids),
            bound=_RANGE_READ * len(event_ids),
        )
        probe.ranges = stored is not None
    if stored is not None:
        positions = [i for i, event_id in enumerate(event_ids) if event_id not in stored]
    else:
        # The positions (from 1) of the event_ids not stored; one index probe each (LIMIT 1
        # keeps it a nested loop over the unique index, whatever the statistics say).
        cursor.execute(
            f"SELECT u.i FROM unnest({ids_sql}) WITH ORDINALITY AS u(event_id, i)"
            f" LEFT JOIN LATERAL (SELECT 1 AS hit FROM {table} v"
            f"  WHERE v.tenant_id = %s AND v.event_id = u.event_id LIMIT 1) s ON true"
            f" WHERE s.hit IS NULL ORDER BY u.i",
            [ids, tenant_id],
        )
        positions = [i - 1 for (i,) in cursor.fetchall()]
    return rows.take(positions) if checked else [rows[i] for i in positions]


def _stored_in_range(
    cursor, *, table: str, tenant_id: int, ids: tuple[str, object], bound: int
) -> set[str] | None:
    """The event_ids the tenant has stored from the least to the greatest of ``ids`` (its
    SQL and parameter), when there are at most ``bound`` of them; else None.

    A log's event_ids usually follow a sequence, so a replayed chunk's lie side by side in
    the unique index: one range scan of it, read back as one string, costs a fraction of
    a probe per row (14–18 against 40 ms per 25,000 rows, in psql). Where the
    stored ids interleave more thinly (random ids), the range would be most of the index:
    the read stops past the bound and the caller probes instead. The bounds are compared
    in the database's collation, as the index orders them; a stored event_id that held
    the separator (none valid does) would split into more parts than rows counted, and
    is refused the same way."""
    ids_sql, ids_param = ids
    cursor.execute(
        f"WITH ids AS (SELECT unnest({ids_sql}) AS event_id)"
        f" SELECT count(*), string_agg(s.event_id, E'\\x1f')"
        f" FROM (SELECT v.event_id FROM {table} v WHERE v.tenant_id = %s"
        f"  AND v.event_id >= (SELECT min(event_id) FROM ids)"
        f"  AND v.event_id <= (SELECT max(event_id) FROM ids)"
        f"  ORDER BY v.event_id LIMIT %s) s",
        [ids_param, tenant_id, bound + 1],
    )
    found, joined = cursor.fetchone()
    if found > bound:
        return None
    parts = joined.split(_SEPARATOR) if found else []
    return set(parts) if len(parts) == found else None


def _copy_rows(rows: Sequence[Valid]) -> str:
    """``rows`` in COPY's text format."""
    if _COPY_SPECIAL.search("".join([row[0] for row in rows])):
        return "".join(
            [f"{_copy_text(e)}\t{r}\t{m}\t{v.isoformat()}\t{d}\n" for e, r, m, v, d in rows]
        )
    # The common case: no event_id to escape (only they hold free text).
    return "".join([f"{e}\t{r}\t{m}\t{v.isoformat()}\t{d}\n" for e, r, m, v, d in rows])


def store_postgresql(
    *,
    tenant: Tenant,
    rows: Sequence[Valid],
    source: str,
    conn: BaseDatabaseWrapper | None = None,
    probe: ReplayProbe | None = None,
) -> Stored:
    """Store ``rows`` (reps resolved to ids) on ``conn`` (default: this thread's);
    ``probe``: see ``ReplayProbe``."""
    conn = connection if conn is None else conn
    table = conn.ops.quote_name(MaterialView._meta.db_table)
    stage = f"mv_stage_{uuid.uuid4().hex[:16]}"
    with conn.cursor() as cursor:
        # raw SQL is not scoped: the tenant is set explicitly.
        rows = _not_stored(cursor, table=table, tenant_id=tenant.pk, rows=rows, probe=probe)
        if not rows:
            return Stored(0, [], None, None)
        cursor.execute(
            f"CREATE TEMPORARY TABLE {stage} (event_id text, rep_id bigint, material_id bigint, "
            "viewed_at timestamptz, duration_seconds integer) ON COMMIT DROP"
        )
        copy_sql = (
            f"COPY {stage} (event_id, rep_id, material_id, viewed_at, duration_seconds) FROM STDIN"
        )
        # The raw psycopg COPY is outside Django's error wrapping: wrap it, so that a value
        # PostgreSQL refuses is a django.db.DataError (a 400 in the API), never a bare one.
        with conn.wrap_database_errors, cursor.cursor.copy(copy_sql) as copy:
            # COPY's text format written directly: much cheaper than adapting row by row.
            for start in range(0, len(rows), 20_000):
                copy.write(_copy_rows(rows[start : start + 20_000]))
        cursor.execute(
            f"WITH ins AS ("
            f" INSERT INTO {table} (tenant_id, rep_id, material_id, viewed_at, duration_seconds,"
            f"  source, event_id, ingested_at)"
            f" SELECT %s, rep_id, material_id, viewed_at, duration_seconds, %s, event_id, %s"
            f" FROM {stage}"
            f" ON CONFLICT (tenant_id, event_id) DO NOTHING"
            f" RETURNING rep_id, viewed_at)"
            f" SELECT count(*), min(viewed_at), max(viewed_at),"
            f"  coalesce(array_agg(DISTINCT rep_id), ARRAY[]::bigint[]) FROM ins",
            [tenant.pk, source, timezone.now()],
        )
        created, first, last, rep_ids = cursor.fetchone()
        cursor.execute(f"DROP TABLE {stage}")
    return Stored(created, sorted(rep_ids), first, last)


class ChunkWriter:
    """Store chunks one after another on a worker thread, on ``conn`` inside the caller's
    transaction; ``finish()`` returns what they stored together. The worker runs in a copy
    of the caller's context, so the tenant scope (and its row-level security settings)
    is the caller's."""

    def __init__(self, *, tenant: Tenant, source: str, conn: BaseDatabaseWrapper) -> None:
        self._tenant = tenant
        self._source = source
        self._conn = conn
        self._context = contextvars.copy_context()
        self._pool: ThreadPoolExecutor | None = None
        self._pending: Future | None = None
        self._probe = ReplayProbe()  # (read and written on the worker thread only)
        self.stored = Stored(0, [], None, None)

    def __enter__(self) -> ChunkWriter:
        self._conn.inc_thread_sharing()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mv-store")
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            if self._pending is not None:
                self._pending.exception()  # let the statement in flight end first
        finally:
            self._pending = None
            assert self._pool is not None
            self._pool.shutdown(wait=True)
            self._conn.dec_thread_sharing()

    def wait(self) -> None:
        """Block until the chunk in flight is stored (raising what storing it raised)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            self.stored.add(pending.result())

    def submit(self, rows: Sequence[Valid]) -> None:
        """Store ``rows`` after the chunk in flight, without waiting for it."""
        self.wait()
        assert self._pool is not None
        self._pending = self._pool.submit(
            self._context.run,
            store_postgresql,
            tenant=self._tenant,
            rows=rows,
            source=self._source,
            conn=self._conn,
            probe=self._probe,
        )

    def finish(self) -> Stored:
        self.wait()
        return self.stored


def store_generic(*, tenant: Tenant, rows: Sequence[Valid], source: str) -> Stored:
    chunk = 500
    existing: set[str] = set()
    event_ids = [r[0] for r in rows]
    for i in range(0, len(event_ids), chunk):
        existing.update(
            MaterialView.objects.filter(
                tenant_id=tenant.pk, event_id__in=event_ids[i : i + chunk]
            ).values_list("event_id", flat=True)
        )
    new = [r for r in rows if r[0] not in existing]
    MaterialView.objects.bulk_create(
        [
            MaterialView(
                tenant_id=tenant.pk,
                event_id=event_id,
                rep_id=rep_id,
                material_id=material_id,
                viewed_at=viewed_at,
                duration_seconds=duration,
                source=source,
            )
            for event_id, rep_id, material_id, viewed_at, duration in new
        ],
        batch_size=chunk,
        ignore_conflicts=True,
    )
    if not new:
        return Stored(0, [], None, None)
    times = [r[3] for r in new]
    return Stored(len(new), sorted({r[1] for r in new}), min(times), max(times))
