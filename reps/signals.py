"""Signals of the reps app. Higher layers listen; this app never imports them.

``reps_upserted`` is sent by bulk writes that bypass ``post_save`` (``bulk_create`` /
``bulk_update``), inside their transaction and tenant scope::

    reps_upserted.send(sender=Rep, tenant_id=int, ids=list[int])

``activities`` listens to link deals that were waiting for these reps.
"""

from __future__ import annotations

from django.dispatch import Signal

reps_upserted = Signal()
