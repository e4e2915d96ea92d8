"""The roll-ups, recomputed from what they derive from: the views' (``RepViewDay``,
``RepMaterialSpan``) from the views, the won deals' (``PartnerWonMonth``) from the deals.

PostgreSQL's triggers keep them in step with every write (migrations 0006 and 0014 of this
app); this is for what bypasses triggers (``DISABLE TRIGGER``, a restore with
``--disable-triggers``, ``session_replication_role = replica``). SQLite keeps none.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection, transaction

from activities.models import Deal, MaterialView, PartnerWonMonth, RepMaterialSpan, RepViewDay
from pse_crm.models import Tenant

# The triggers' per-tenant lock (migration 0006): held exclusively, no view of the tenant
# is written while the roll-ups are recomputed.
_ROLLUP_LOCK_CLASS = 0x7011
# The deals' per-tenant lock (migration 0014): their writers take turns.
_WON_LOCK_CLASS = 0x7012


@dataclass(frozen=True)
class RollupsRebuilt:
    days_before: int
    days: int
    pairs_before: int
    pairs: int


def view_rollups_rebuild(*, tenant: Tenant) -> RollupsRebuilt | None:
    """Recompute ``tenant``'s roll-ups from its views, in one transaction. ``None`` where
    there are no roll-ups to keep (not PostgreSQL)."""
    if connection.vendor != "postgresql":
        return None
    days_table = RepViewDay._meta.db_table
    pairs_table = RepMaterialSpan._meta.db_table
    views_table = MaterialView._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        # Raw SQL is not scoped: the tenant is named in every statement.
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_ROLLUP_LOCK_CLASS, tenant.pk])
        cursor.execute(f"DELETE FROM {days_table} WHERE tenant_id = %s", [tenant.pk])
        days_before = cursor.rowcount
        cursor.execute(f"DELETE FROM {pairs_table} WHERE tenant_id = %s", [tenant.pk])
        pairs_before = cursor.rowcount
        cursor.execute(
            f"INSERT INTO {days_table} (tenant_id, day, rep_id, views)"
            f" SELECT tenant_id, (viewed_at AT TIME ZONE 'UTC')::date, rep_id, count(*)"
            f" FROM {views_table} WHERE tenant_id = %s GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
            [tenant.pk],
        )
        days = cursor.rowcount
        cursor.execute(
            f"INSERT INTO {pairs_table}"
            f" (tenant_id, rep_id, material_id, first_viewed_at, last_viewed_at)"
            f" SELECT tenant_id, rep_id, material_id, min(viewed_at), max(viewed_at)"
            f" FROM {views_table} WHERE tenant_id = %s GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
            [tenant.pk],
        )
        pairs = cursor.rowcount
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
