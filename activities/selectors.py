"""Reads of the activities app: sync settings and the deal sync watermark."""

from __future__ import annotations

import datetime as dt

from django.db.models import Max

from activities.models import Deal, SyncSettings
from pse_crm.models import Tenant


def sync_settings_get(*, tenant: Tenant) -> SyncSettings:
    """The tenant's Salesforce sync settings; an unsaved row with the defaults when none exists."""
    found = SyncSettings.objects.filter(tenant=tenant).first()
    return found if found is not None else SyncSettings(tenant=tenant)


def deal_sync_watermark(*, tenant: Tenant) -> dt.datetime | None:
    """The newest ``SystemModstamp`` stored for the tenant (deleted deals included), or None.

    A client resumes its Salesforce query from here (``SystemModstamp >= watermark``).
    """
    return Deal.objects.filter(tenant=tenant).aggregate(m=Max("system_modstamp"))["m"]
