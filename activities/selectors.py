"""Reads of the activities app: sync settings, the deal sync watermark, listing querysets."""

from __future__ import annotations

import datetime as dt

from django.db.models import Max, QuerySet

from activities.models import Deal, Material, MaterialView, SyncSettings
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


def deal_list(*, include_deleted: bool = False) -> QuerySet[Deal]:
    """The deals of the tenant in scope, soft-deleted ones only when asked."""
    qs = Deal.objects.select_related("partner", "rep")
    return qs if include_deleted else qs.filter(is_deleted=False)


def material_list() -> QuerySet[Material]:
    return Material.objects.all()


def material_view_list() -> QuerySet[MaterialView]:
    return MaterialView.objects.select_related("rep", "material")
