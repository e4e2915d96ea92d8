"""Listeners to the data apps' signals: ingestion wakes the method.

Connected in ``EnablementConfig.ready``. Receivers stay thin: they enqueue a task.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.dispatch import receiver

from activities.signals import material_views_ingested
from pse_crm.tasks import enqueue_on_commit


@receiver(material_views_ingested, dispatch_uid="enablement.deal_signals_on_ingestion")
def deal_signals_on_ingestion(
    sender,
    *,
    tenant_id: int,
    rep_ids: Sequence[int],
    first_viewed_at: dt.datetime | None = None,
    last_viewed_at: dt.datetime | None = None,
    **kwargs,
) -> None:
    """Evaluate the deal-signal rules for exactly the reps that got new views."""
    from enablement.tasks import deal_signals_evaluate

    if rep_ids:
        enqueue_on_commit(deal_signals_evaluate, tenant_id, sorted(set(rep_ids)))
