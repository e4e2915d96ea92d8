"""Storing validated material views: one transaction, COPY into a staging table and one
``INSERT … SELECT … ON CONFLICT (tenant_id, event_id) DO NOTHING`` on PostgreSQL,
``bulk_create`` elsewhere (SQLite, the demo). Validation is ``material_views``'."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass

from django.db import connection
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


_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: str) -> str:
    """A value in COPY's text format (backslash, tab, newline and CR escaped)."""
    return value.translate(_COPY_ESCAPES) if _COPY_SPECIAL.search(value) else value


def store_postgresql(*, tenant: Tenant, rows: list[Valid], source: str) -> Stored:
    table = connection.ops.quote_name(MaterialView._meta.db_table)
    stage = f"mv_stage_{uuid.uuid4().hex[:16]}"
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE {stage} (event_id text, rep_id bigint, material_id bigint, "
            "viewed_at timestamptz, duration_seconds integer) ON COMMIT DROP"
        )
        copy_sql = (
            f"COPY {stage} (event_id, rep_id, material_id, viewed_at, duration_seconds) FROM STDIN"
        )
        # The raw psycopg COPY is outside Django's error wrapping: wrap it, so that a value
        # PostgreSQL refuses is a django.db.DataError (a 400 in the API), never a bare one.
        with connection.wrap_database_errors, cursor.cursor.copy(copy_sql) as copy:
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
