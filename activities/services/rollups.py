"""The roll-ups: the views' (``RepViewDay``, ``RepMaterialSpan``) folded up to a mark, and
recomputed from what they derive from, the views' from the views and the won deals'
(``PartnerWonMonth``) from the deals.

The views' roll-ups hold each tenant's views up to its mark (``ViewRollupMark``, migration
0015): ``view_rollups_fold`` adds the views stored since. PostgreSQL's triggers keep the
rest in step with every write (migrations 0006, 0014 and 0015 of this app); the rebuilds
are for what bypasses triggers (``DISABLE TRIGGER``, a restore with
``--disable-triggers``, ``session_replication_role = replica``). SQLite keeps none.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.db import connection, transaction

from activities.models import (
    Deal,
    MaterialView,
    PartnerWonMonth,
    RepMaterialSpan,
    RepViewDay,
    ViewRollupMark,
)
from pse_crm.models import Tenant

logger = logging.getLogger(__name__)

# The triggers' per-tenant lock (migrations 0006 and 0015): held exclusively, no view of
# the tenant is inserted, and no fold moves its mark, while the roll-ups are recomputed.
ROLLUP_LOCK_CLASS = 0x7011
# The views a fold rolls up in one transaction at most: the tenant's writers wait for it
# (about 2 s for 250,000 views, bench/import_views.py).
FOLD_BATCH = 250_000
# How long a fold waits for the tenant's lock at most, and how often it tries.
FOLD_PATIENCE = 5.0
FOLD_RETRY = 0.05
# The deals' per-tenant lock (migration 0014): their writers take turns.
_WON_LOCK_CLASS = 0x7012


@dataclass(frozen=True)
class RollupsRebuilt:
    days_before: int
    days: int
    pairs_before: int
    pairs: int


def view_rollups_fold(
    *, tenant: Tenant, batch: int = FOLD_BATCH, patience: float = FOLD_PATIENCE
) -> int:
    """Add ``tenant``'s views stored since its roll-ups' mark to them, ``batch`` views (in
    id order) per transaction, until none is left: how many were added (0 on SQLite).

    Each transaction takes the tenant's lock only while no one holds it (migration 0015):
    the writers in flight finish first, and new ones wait only for the fold itself, never
    behind it for a run reading the roll-ups. While the lock is held it tries again every
    ``FOLD_RETRY`` seconds; after ``patience`` seconds without it, it stops with what it
    added (the next fold, 5 minutes later on beat, goes on from the mark). Inside a caller's
    transaction every batch is a savepoint and the lock is held until that one commits.
    The tenant must be in scope (or all tenants): the database refuses a fold of another
    one (``ProgrammingError``)."""
    if connection.vendor != "postgresql":
        return 0
    if batch < 1:
        raise ValueError("batch must be at least 1")
    added = 0
    deadline = time.monotonic() + patience
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT activities_views_rollup_fold(%s, %s)", [tenant.pk, batch])
            (folded,) = cursor.fetchone()
        if folded < 0:  # the lock is held
            if time.monotonic() >= deadline:
                logger.info(
                    "fold of tenant %s: its lock stayed held, %d views added", tenant.pk, added
                )
                return added
            time.sleep(FOLD_RETRY)
            continue
        added += folded
        if folded < batch:
            return added


def view_rollups_mark(*, tenant_id: int) -> int:
    """The id up to which the tenant's views are in its roll-ups (0: none), as read now. A
    mark never moves down: a fold may have raised it since (migration 0015)."""
    with connection.cursor() as cursor:
        # Raw SQL is not scoped: the tenant is named.
        cursor.execute(
            f"SELECT folded_through FROM {ViewRollupMark._meta.db_table} WHERE tenant_id = %s",
            [tenant_id],
        )
        row = cursor.fetchone()
    return row[0] if row else 0


def view_rollups_rebuild(*, tenant: Tenant) -> RollupsRebuilt | None:
    """Recompute ``tenant``'s roll-ups from all its views, in one transaction, and move its
    mark up to its last view if below. ``None`` where there are no roll-ups to keep (not
    PostgreSQL)."""
    if connection.vendor != "postgresql":
        return None
    days_table = RepViewDay._meta.db_table
    pairs_table = RepMaterialSpan._meta.db_table
    views_table = MaterialView._meta.db_table
    marks_table = ViewRollupMark._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        # Raw SQL is not scoped: the tenant is named in every statement.
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [ROLLUP_LOCK_CLASS, tenant.pk])
        # The views the lock's holders committed are all visible now; one still inserting
        # rolls up its own rows at or below the new mark when it reaches its trigger.
        cursor.execute(f"SELECT max(id) FROM {views_table} WHERE tenant_id = %s", [tenant.pk])
        (through,) = cursor.fetchone()
        cursor.execute(f"DELETE FROM {days_table} WHERE tenant_id = %s", [tenant.pk])
        days_before = cursor.rowcount
        cursor.execute(f"DELETE FROM {pairs_table} WHERE tenant_id = %s", [tenant.pk])
        pairs_before = cursor.rowcount
        cursor.execute(
            f"INSERT INTO {days_table} (tenant_id, day, rep_id, views)"
            f" SELECT tenant_id, (viewed_at AT TIME ZONE 'UTC')::date, rep_id, count(*)"
            f" FROM {views_table} WHERE tenant_id = %s AND id <= %s"
            f" GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
            [tenant.pk, through or 0],
        )
        days = cursor.rowcount
        cursor.execute(
            f"INSERT INTO {pairs_table}"
            f" (tenant_id, rep_id, material_id, first_viewed_at, last_viewed_at)"
            f" SELECT tenant_id, rep_id, material_id, min(viewed_at), max(viewed_at)"
            f" FROM {views_table} WHERE tenant_id = %s AND id <= %s"
            f" GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
            [tenant.pk, through or 0],
        )
        pairs = cursor.rowcount
        if through is not None:
            # (Never down: a reader counts on it, see migration 0015.)
            cursor.execute(
                f"INSERT INTO {marks_table} AS m (tenant_id, folded_through) VALUES (%s, %s)"
                " ON CONFLICT (tenant_id) DO UPDATE"
                " SET folded_through = GREATEST(m.folded_through, EXCLUDED.folded_through)",
                [tenant.pk, through],
            )
    return RollupsRebuilt(days_before, days, pairs_before, pairs)


def won_months_rebuild(*, tenant: Tenant) -> tuple[int, int] | None:
    """Recompute ``tenant``'s won deals per partner and month from its deals, in one
    transaction: (rows before, rows now), or ``None`` where there is no roll-up (not
    PostgreSQL). Holds the tenant's lock that every statement writing its deals takes
    first (migration 0014), so it waits for the writers in flight and the next ones wait
    for it: no deal written meanwhile is counted twice or missed, and other tenants'
    writers never wait."""
    if connection.vendor != "postgresql":
        return None
    months_table, deals_table = PartnerWonMonth._meta.db_table, Deal._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_WON_LOCK_CLASS, tenant.pk])
        cursor.execute(f"DELETE FROM {months_table} WHERE tenant_id = %s", [tenant.pk])
        before = cursor.rowcount
        # What the triggers add per deal (tests/activities/test_won_months.py holds the two
        # equal): the won, undeleted deals with a partner and a close date.
        cursor.execute(
            f"""
            INSERT INTO {months_table}
                (tenant_id, partner_id, month, won_amount, won_deals, won_unconverted)
            SELECT tenant_id, partner_id, date_trunc('month', close_date::timestamp)::date,
                   COALESCE(SUM(amount_corporate), 0), COUNT(*),
                   COUNT(*) FILTER (WHERE amount IS NOT NULL AND amount_corporate IS NULL)
            FROM {deals_table}
            WHERE tenant_id = %s AND is_won AND NOT is_deleted
              AND partner_id IS NOT NULL AND close_date IS NOT NULL
            GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
            """,
            [tenant.pk],
        )
        return before, cursor.rowcount
