"""Segmentation gauges for ``/metrics`` (pse_crm/metrics.py), read at scrape time.

``pse_nightly_last_success_timestamp_seconds``: when each active tenant's last nightly
segmentation run (the first step of momentum's nightly pipeline) succeeded, as a Unix
time; 0 when it never did. Alert on ``time() - … > 26 * 3600``.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import Metric

from pse_crm.metrics import TenantAggregate, register_tenant_aggregate, tenant_gauge
from segmentation.models import SegmentationRun

LAST_NIGHTLY = register_tenant_aggregate(
    TenantAggregate(
        name="segmentation_last_nightly_by_tenant",
        query=f"""
        SELECT tenant_id, extract(epoch FROM max(finished_at))::float8
        FROM {SegmentationRun._meta.db_table}
        WHERE trigger = '{SegmentationRun.Trigger.NIGHTLY.value}'
            AND status = '{SegmentationRun.Status.SUCCEEDED.value}'
            AND finished_at IS NOT NULL
        GROUP BY tenant_id""",
    )
)


def collect() -> Iterator[Metric]:
    yield tenant_gauge(
        "pse_nightly_last_success_timestamp_seconds",
        "When the tenant's last nightly segmentation run succeeded (Unix time); 0: never.",
        LAST_NIGHTLY.values(),
    )
