"""The views' roll-ups (``RepViewDay``, ``RepMaterialSpan``), recomputed from the views.

PostgreSQL's triggers keep them in step with every write of the views (migration 0006 of
this app); this is for what bypasses triggers (``DISABLE TRIGGER``, a restore with
``--disable-triggers``, ``session_replication_role = replica``). SQLite keeps none.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection, transaction

from activities.models import MaterialView, RepMaterialSpan, RepViewDay
from pse_crm.models import Tenant

# The triggers' per-tenant lock (migration 0006): held exclusively, no view of the tenant
# is written while the roll-ups are recomputed.
_ROLLUP_LOCK_CLASS = 0x7011


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
