"""Signals of the partners app. Higher layers listen; this app never imports them.

``partners_upserted`` is sent by bulk writes that bypass ``post_save`` (``bulk_create`` /
``bulk_update``), inside their transaction and tenant scope::

    partners_upserted.send(sender=Partner, tenant_id=int, ids=list[int])

``activities`` listens to link deals that were waiting for these partners.
"""

from __future__ import annotations

from django.dispatch import Signal

partners_upserted = Signal()
