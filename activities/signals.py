"""Signals sent by the activities app. Higher layers (``deal_signals``) listen; we never import them.

``material_views_ingested`` is sent once per ingestion batch, after the transaction that
stored the views has committed, and only when at least one new view was stored::

    material_views_ingested.send(
        sender=MaterialView,
        tenant_id=int,                 # the tenant whose views were stored
        rep_ids=list[int],             # reps that got at least one new view (sorted, unique)
        first_viewed_at=datetime,      # earliest viewed_at among the new views (aware)
        last_viewed_at=datetime,       # latest viewed_at among the new views (aware)
    )

Receivers may run outside the tenant scope: enqueue a ``TenantTask`` with ``tenant_id``.
"""

from __future__ import annotations

from django.dispatch import Signal

material_views_ingested = Signal()
