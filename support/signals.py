"""Signals sent by the support app. Higher layers (``momentum``) listen; we never import them.

``quick_wins_recomputed`` is sent after an on-demand recomputation of the quick-win
outcomes, inside the tenant's scope::

    quick_wins_recomputed.send(sender=QuickWin, tenant=Tenant, now=datetime)

Momentum rebuilds this week's and last week's snapshots, which count the quick wins.
"""

from __future__ import annotations

from django.dispatch import Signal

quick_wins_recomputed = Signal()
