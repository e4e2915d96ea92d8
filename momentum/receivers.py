"""Listeners to the lower apps' signals (connected in ``MomentumConfig.ready``)."""

from __future__ import annotations

import datetime as dt

from django.dispatch import receiver

from pse_crm.models import Tenant
from support.signals import quick_wins_recomputed


@receiver(quick_wins_recomputed, dispatch_uid="momentum.rebuild_on_quick_wins")
def momentum_on_quick_wins(sender, *, tenant: Tenant, now: dt.datetime, **kwargs) -> None:
    """Quick wins count in momentum: rebuild this week's and last week's snapshots."""
    from momentum.services import momentum_build_current

    momentum_build_current(tenant=tenant, now=now)
