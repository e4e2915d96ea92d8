"""Listeners to the data apps' signals: ingestion wakes the method.

Connected in ``EnablementConfig.ready``. Receivers stay thin: they enqueue a task.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.db import transaction
from django.dispatch import receiver

from activities.signals import material_views_ingested


@receiver(material_views_ingested, dispatch_uid="deal_signals.receivers.deal_signals_on_ingestion")
def deal_signals_on_ingestion(
    sender,
    *,
    tenant_id: int,
    rep_ids: Sequence[int],
    first_viewed_at: dt.datetime | None = None,
    last_viewed_at: dt.datetime | None = None,
    **kwargs,
) -> None:
    """Evaluate the deal-signal rules for exactly the reps that got new views (after the
    commit; with the queue down, the reps wait in the backlog for the hourly sweep)."""
    from deal_signals.services.signals import deal_signals_queue

    if rep_ids:
        ids = list(rep_ids)
        transaction.on_commit(lambda: deal_signals_queue(tenant_id=tenant_id, rep_ids=ids))
