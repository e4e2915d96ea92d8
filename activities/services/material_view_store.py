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


def _not_stored(cursor, *, table: str, tenant_id: int, rows: list[Valid]) -> list[Valid]:
    """The rows of ``rows`` whose event_id the tenant has not stored (yet), when its first
    rows are stored already (a replay), else ``rows``.

    A replayed row then costs one index probe, not the COPY, the staging table and the
    insert that ON CONFLICT would drop; new rows cost the probes of the sample only. It
    only saves work: whatever is left is still inserted with ON CONFLICT DO NOTHING."""
    event_ids = [row[0] for row in rows]
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
    # The positions (from 1) of the event_ids not stored; one index probe each (LIMIT 1
    # keeps it a nested loop over the unique index, whatever the statistics say).
    cursor.execute(
        f"SELECT u.i FROM unnest({ids_sql}) WITH ORDINALITY AS u(event_id, i)"
        f" LEFT JOIN LATERAL (SELECT 1 AS hit FROM {table} v"
        f"  WHERE v.tenant_id = %s AND v.event_id = u.event_id LIMIT 1) s ON true"
        f" WHERE s.hit IS NULL ORDER BY u.i",
        [ids, tenant_id],
    )
    return [rows[i - 1] for (i,) in cursor.fetchall()]


def _copy_rows(rows: list[Valid]) -> str:
    """``rows`` in COPY's text format."""
    if _COPY_SPECIAL.search("".join([row[0] for row in rows])):
        return "".join(
            [f"{_copy_text(e)}\t{r}\t{m}\t{v.isoformat()}\t{d}\n" for e, r, m, v, d in rows]
        )
    # The common case: no event_id to escape (only they hold free text).
    return "".join([f"{e}\t{r}\t{m}\t{v.isoformat()}\t{d}\n" for e, r, m, v, d in rows])


def store_postgresql(
    *, tenant: Tenant, rows: list[Valid], source: str, conn: BaseDatabaseWrapper | None = None
) -> Stored:
    """Store ``rows`` (reps resolved to ids) on ``conn`` (default: this thread's)."""
    conn = connection if conn is None else conn
    table = conn.ops.quote_name(MaterialView._meta.db_table)
    stage = f"mv_stage_{uuid.uuid4().hex[:16]}"
    with conn.cursor() as cursor:
        # raw SQL is not scoped: the tenant is set explicitly.
        rows = _not_stored(cursor, table=table, tenant_id=tenant.pk, rows=rows)
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

    def submit(self, rows: list[Valid]) -> None:
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
        )

    def finish(self) -> Stored:
        self.wait()
        return self.stored


def store_generic(*, tenant: Tenant, rows: list[Valid], source: str) -> Stored:
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
