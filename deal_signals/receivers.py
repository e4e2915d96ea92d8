"""Listeners to the lower apps' signals: ingestion wakes the method, a new tenant gets its
rules.

Connected in ``DealSignalsConfig.ready``. Receivers stay thin: they call one service or
enqueue a task.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from activities.signals import material_views_ingested
from pse_crm.models import Tenant
from pse_crm.tenancy import tenant_scope


@receiver(post_save, sender=Tenant, dispatch_uid="deal_signals.receivers.signal_rules_on_tenant")
def signal_rules_on_tenant(sender, *, instance: Tenant, created: bool, raw: bool = False, **kwargs):
    """A new tenant gets one rule per kind (the defaults), in the transaction that creates
    it: reading the rules never has to write them. A fixture load (``raw``) brings its own."""
    from deal_signals.services.signals import signal_rules_ensure

    if created and not raw:
        with tenant_scope(instance):
            signal_rules_ensure(tenant=instance)


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
