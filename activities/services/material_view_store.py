"""Storing validated material views: one transaction, COPY into a staging table and one
``INSERT … SELECT … ON CONFLICT (tenant_id, event_id) DO NOTHING`` per chunk on PostgreSQL,
``bulk_create`` elsewhere (SQLite, the demo). Validation is ``material_views``'.

``ChunkWriter`` stores the chunks on a second thread, on the caller's own connection and
inside its transaction, while the caller validates the next chunk: PostgreSQL works on
one core while Python works on the other (psycopg releases the GIL while it waits). Only
one thread uses the connection at a time: the caller ``wait()``s before its own queries.
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


def store_postgresql(
    *, tenant: Tenant, rows: list[Valid], source: str, conn: BaseDatabaseWrapper | None = None
) -> Stored:
    """Store ``rows`` (reps resolved to ids) on ``conn`` (default: this thread's)."""
    conn = connection if conn is None else conn
    table = conn.ops.quote_name(MaterialView._meta.db_table)
    stage = f"mv_stage_{uuid.uuid4().hex[:16]}"
    with conn.cursor() as cursor:
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
                copy.write(
                    "".join(
                        f"{_copy_text(e)}\t{r}\t{m}\t{v.isoformat()}\t{d}\n"
                        for e, r, m, v, d in rows[start : start + 20_000]
                    )
                )
        # raw SQL is not scoped: the tenant is set explicitly.
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
