"""The deal-signal evaluation in one PostgreSQL statement: find the hits of every enabled
rule for a batch of reps and store the signals and their triggering views.

The rules are those of ``deal_signals.services.signals`` (``_hits_for_chunk`` and
``_latest_window`` say them in Python, for SQLite); ``tests/deal_signals/test_signals_sql.py``
holds the two to the same results on random data. Here they are set-based:

* the reps' views since the horizon are read once, through the (tenant, rep, viewed_at)
  index;
* a window rule counts, for every candidate view, the candidates of its rep in the
  ``window_hours`` before it (``count(*) OVER (… RANGE BETWEEN span PRECEDING AND CURRENT
  ROW)``). The latest view where the count reaches the threshold ends the rep's latest
  window (it is the last of its equal times, as in ``_latest_window``), and the window is
  every candidate within ``span`` before it;
* the signals are inserted with ``INSERT … SELECT … RETURNING`` and their views in the
  same statement, so a batch of any size costs one round trip.

Raw SQL is not scoped by the manager: every table is filtered on the tenant here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.db import connection
from django.utils import timezone

from activities.models import Deal, Material, MaterialView
from deal_signals.models import DealSignal, DealSignalView, SignalKind, SignalRule
from pse_crm.models import Tenant
from reps.models import Rep
from segmentation.models import Quadrant, RepSegment, SegmentationRun, Tier

__all__ = ["signals_raise"]

# Kinds whose rule is "threshold views within window_hours"; first_view has its own CTE.
WINDOW_KINDS = (SignalKind.BURST, SignalKind.LATE_STAGE, SignalKind.REACTIVATION)

_T = {
    "view": MaterialView._meta.db_table,
    "rep": Rep._meta.db_table,
    "material": Material._meta.db_table,
    "signal": DealSignal._meta.db_table,
    "link": DealSignalView._meta.db_table,
    "deal": Deal._meta.db_table,
    "segment": RepSegment._meta.db_table,
    "run": SegmentationRun._meta.db_table,
}


def _window_ctes(kind: str, *, quiet: bool, late: bool) -> str:
    """The candidates (``c_<kind>``), window ends (``e_<kind>``) and hits (``h_<kind>``)."""
    filters = [
        "v.viewed_at <= %(now)s",
        f"v.id NOT IN (SELECT view_id FROM claimed WHERE kind = %(kind_{kind})s)",
        f"v.rep_id NOT IN (SELECT rep_id FROM open_signals WHERE kind = %(kind_{kind})s)",
    ]
    if late:
        filters.append(f"v.material_kind = ANY(%(materials_{kind})s::text[])")
    if quiet:
        filters.append("v.rep_id IN (SELECT rep_id FROM quiet)")
    where = " AND ".join(filters)
    return f"""
    c_{kind} AS (
        SELECT v.id, v.rep_id, v.partner_id, v.viewed_at,
               count(*) OVER (PARTITION BY v.rep_id ORDER BY v.viewed_at
                              RANGE BETWEEN %(span_{kind})s PRECEDING AND CURRENT ROW) AS n
        FROM v WHERE {where}
    ),
    e_{kind} AS (
        SELECT DISTINCT ON (rep_id) rep_id, viewed_at
        FROM c_{kind} WHERE n >= %(threshold_{kind})s
        ORDER BY rep_id, viewed_at DESC, id DESC
    ),
    h_{kind} AS (
        SELECT %(kind_{kind})s::text AS kind, c.rep_id, min(c.partner_id) AS partner_id,
               array_agg(c.id ORDER BY c.viewed_at, c.id) AS view_ids,
               min(c.viewed_at) AS first_at, max(c.viewed_at) AS last_at,
               %(expiry_{kind})s::interval AS expiry
        FROM e_{kind} e
        JOIN c_{kind} c ON c.rep_id = e.rep_id
             AND c.viewed_at >= e.viewed_at - %(span_{kind})s AND c.viewed_at <= e.viewed_at
        WHERE e.viewed_at >= %(fresh_{kind})s
        GROUP BY c.rep_id
    )"""


_FIRST_VIEW_CTE = f"""
    f_first AS (
        SELECT DISTINCT ON (v.rep_id) v.id, v.rep_id, v.partner_id, v.viewed_at
        FROM v
        WHERE NOT EXISTS (SELECT 1 FROM {_T["signal"]} s WHERE s.tenant_id = %(tenant)s
                          AND s.rep_id = v.rep_id AND s.kind = %(kind_first)s)
          AND NOT EXISTS (SELECT 1 FROM {_T["view"]} o WHERE o.tenant_id = %(tenant)s
                          AND o.rep_id = v.rep_id AND o.viewed_at < %(fresh_first)s)
        ORDER BY v.rep_id, v.viewed_at, v.id
    ),
    h_first AS (
        SELECT %(kind_first)s::text AS kind, f.rep_id, f.partner_id, ARRAY[f.id] AS view_ids,
               f.viewed_at AS first_at, f.viewed_at AS last_at,
               %(expiry_first)s::interval AS expiry
        FROM f_first f
        WHERE f.id NOT IN (SELECT view_id FROM claimed WHERE kind = %(kind_first)s)
    )"""


def _statement(rules: dict[str, SignalRule]) -> str:
    window_kinds = [k for k in WINDOW_KINDS if k in rules]
    ctes = [
        f"""
    r AS MATERIALIZED (
        SELECT id, partner_id FROM {_T["rep"]}
        WHERE tenant_id = %(tenant)s AND id = ANY(%(reps)s::bigint[])
    )""",
        f"""
    v AS MATERIALIZED (
        SELECT mv.id, mv.rep_id, r.partner_id, mv.viewed_at, m.kind AS material_kind
        FROM r
        CROSS JOIN LATERAL (
            SELECT mv.id, mv.rep_id, mv.material_id, mv.viewed_at FROM {_T["view"]} mv
            WHERE mv.tenant_id = %(tenant)s AND mv.rep_id = r.id
              AND mv.viewed_at >= %(horizon)s
            OFFSET 0  -- kept per rep: an index range of (tenant, rep, viewed_at) each
        ) mv
        JOIN {_T["material"]} m ON m.id = mv.material_id AND m.tenant_id = %(tenant)s
    )""",
        f"""
    claimed AS MATERIALIZED (
        SELECT l.view_id, l.kind FROM {_T["link"]} l
        WHERE l.tenant_id = %(tenant)s AND l.view_id = ANY(ARRAY(SELECT id FROM v))
    )""",
        f"""
    open_signals AS MATERIALIZED (
        SELECT rep_id, kind FROM {_T["signal"]}
        WHERE tenant_id = %(tenant)s AND status = %(status_new)s
          AND rep_id = ANY(%(reps)s::bigint[])
    )""",
    ]
    if SignalKind.REACTIVATION in rules:
        ctes.append(f"""
    quiet AS MATERIALIZED (
        SELECT rs.rep_id FROM {_T["segment"]} rs
        JOIN {_T["run"]} run ON run.id = rs.run_id AND run.tenant_id = %(tenant)s
        WHERE rs.tenant_id = %(tenant)s AND run.is_current
          AND rs.rep_id = ANY(%(reps)s::bigint[])
          AND (rs.quadrant = %(dormant)s OR rs.tier = %(bottom)s)
    )""")
    ctes.extend(
        _window_ctes(
            k,
            quiet=k == SignalKind.REACTIVATION,
            late=k == SignalKind.LATE_STAGE,
        )
        for k in window_kinds
    )
    hits = [f"SELECT * FROM h_{k}" for k in window_kinds]
    if SignalKind.FIRST_VIEW in rules:
        ctes.append(_FIRST_VIEW_CTE)
        hits.append("SELECT * FROM h_first")
    ctes.append(f"""
    hits AS ({" UNION ALL ".join(hits)}),
    ins AS (
        INSERT INTO {_T["signal"]} (tenant_id, rep_id, partner_id, kind, status, view_count,
            first_viewed_at, last_viewed_at, has_open_deal, created_at, expires_at,
            dismiss_reason)
        SELECT %(tenant)s, h.rep_id, h.partner_id, h.kind, %(status_new)s,
               cardinality(h.view_ids), h.first_at, h.last_at,
               EXISTS (SELECT 1 FROM {_T["deal"]} d WHERE d.tenant_id = %(tenant)s
                       AND d.rep_id = h.rep_id AND NOT d.is_closed AND NOT d.is_deleted),
               %(created)s, LEAST(h.last_at, %(now)s) + h.expiry, ''
        FROM hits h
        ORDER BY h.rep_id, h.kind
        RETURNING {", ".join(f.column for f in DealSignal._meta.concrete_fields)}
    ),
    links AS (
        INSERT INTO {_T["link"]} (tenant_id, signal_id, view_id, kind)
        SELECT %(tenant)s, ins.id, x.view_id, ins.kind
        FROM ins JOIN hits h ON h.rep_id = ins.rep_id AND h.kind = ins.kind
        CROSS JOIN LATERAL unnest(h.view_ids) AS x(view_id)
    )""")
    return "WITH" + ",".join(ctes) + "\nSELECT * FROM ins ORDER BY id"


def _params(
    *, tenant: Tenant, rep_ids: Sequence[int], rules: dict[str, SignalRule], now: dt.datetime
) -> dict:
    horizon = now - dt.timedelta(
        days=max(r.expiry_days for r in rules.values()),
        hours=max(r.window_hours for r in rules.values()),
    )
    params: dict = {
        "tenant": tenant.pk,
        "reps": list(rep_ids),
        "horizon": horizon,
        "now": now,
        "created": timezone.now(),
        "status_new": DealSignal.Status.NEW,
        "dormant": Quadrant.DORMANT,
        "bottom": Tier.BOTTOM,
    }
    for kind, rule in rules.items():
        key = "first" if kind == SignalKind.FIRST_VIEW else kind
        params[f"kind_{key}"] = str(kind)
        params[f"fresh_{key}"] = now - dt.timedelta(days=rule.expiry_days)
        params[f"expiry_{key}"] = dt.timedelta(days=rule.expiry_days)
        params[f"span_{key}"] = dt.timedelta(hours=rule.window_hours)
        params[f"threshold_{key}"] = rule.threshold
        if kind == SignalKind.LATE_STAGE:
            params[f"materials_{key}"] = [str(k) for k in rule.material_kinds]
    return params


def signals_raise(
    *, tenant: Tenant, rep_ids: Sequence[int], rules: dict[str, SignalRule], now: dt.datetime
) -> list[DealSignal]:
    """Find and store the signals that the enabled ``rules`` raise for ``rep_ids`` (on
    PostgreSQL, in the caller's transaction, which holds the tenant's evaluation lock).

    The same guarantees as the Python path of ``deal_signals_evaluate``, in one statement:
    a view raises each kind at most once, an open signal blocks a second of its kind, only
    activity newer than the rule's expiry counts, and only ``tenant``'s rows are read.
    Returns the new signals, ordered by id.
    """
    if not rules or not rep_ids:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            _statement(rules), _params(tenant=tenant, rep_ids=rep_ids, rules=rules, now=now)
        )
        rows = cursor.fetchall()
    # RETURNING lists the columns in field order, as DealSignal.from_db takes them.
    names = [f.attname for f in DealSignal._meta.concrete_fields]
    return [DealSignal.from_db(connection.alias, names, row) for row in rows]
