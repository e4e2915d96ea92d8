"""Deal-signal gauges for ``/metrics`` (pse_crm/metrics.py), read at scrape time.

* ``pse_deal_signal_lag_seconds``: over the signals raised in the last hour, the longest
  time from the ingestion of the view that raised one to the signal (what
  bench/deal_signals.py measures); 0 when none was raised.
* ``pse_deal_signal_backlog_age_seconds``: how long the oldest deal-signal check has been
  waiting for the task queue (views that arrived while Redis was down); 0 when none waits.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client.core import Metric

from activities.models import MaterialView
from deal_signals.models import DealSignal, DealSignalView, SignalEvaluationBacklog
from pse_crm.metrics import TenantAggregate, register_tenant_aggregate, tenant_gauge

LAG_WINDOW = "1 hour"

# Per signal: its creation less the ingestion of the newest view it had by then.
LAG = register_tenant_aggregate(
    TenantAggregate(
        name="deal_signals_lag_by_tenant",
        query=f"""
        SELECT tenant_id, max(lag)::float8 FROM (
            SELECT s.tenant_id, extract(epoch FROM s.created_at - max(v.ingested_at)) AS lag
            FROM {DealSignal._meta.db_table} s
            JOIN {DealSignalView._meta.db_table} sv ON sv.signal_id = s.id
            JOIN {MaterialView._meta.db_table} v
                ON v.id = sv.view_id AND v.ingested_at <= s.created_at
            WHERE s.created_at >= now() - interval '{LAG_WINDOW}'
            GROUP BY s.tenant_id, s.id, s.created_at
        ) per_signal
        GROUP BY tenant_id""",
    )
)
BACKLOG_OLDEST = register_tenant_aggregate(
    TenantAggregate(
        name="deal_signals_backlog_oldest_by_tenant",
        query=f"""
        SELECT tenant_id, extract(epoch FROM min(created_at))::float8
        FROM {SignalEvaluationBacklog._meta.db_table}
        GROUP BY tenant_id""",
    )
)


def collect() -> Iterator[Metric]:
    yield tenant_gauge(
        "pse_deal_signal_lag_seconds",
        "Longest time from a view's ingestion to the deal signal it raised, over the "
        f"signals of the last {LAG_WINDOW}; 0 when none was raised.",
        LAG.values(),
    )
    now = time.time()
    waiting = {tenant: max(0.0, now - oldest) for tenant, oldest in BACKLOG_OLDEST.values().items()}
    yield tenant_gauge(
        "pse_deal_signal_backlog_age_seconds",
        "Age of the oldest deal-signal check waiting for the task queue; 0 when none waits.",
        waiting,
    )
