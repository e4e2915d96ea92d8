"""Dates in the tenant's time zone: days and ISO weeks are the tenant's, never UTC's."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from pse_crm.models import Tenant


def tenant_today(tenant: Tenant, *, now: dt.datetime | None = None) -> dt.date:
    """Today's date where the tenant is."""
    return local_date(tenant, now or timezone.now())


def local_date(tenant: Tenant, moment: dt.datetime) -> dt.date:
    """The tenant-local calendar date of an aware moment."""
    return moment.astimezone(tenant.tzinfo).date()


def week_start(day: dt.date) -> dt.date:
    """The Monday of ``day``'s ISO week."""
    return day - dt.timedelta(days=day.weekday())


def day_start(tenant: Tenant, day: dt.date) -> dt.datetime:
    """The aware start of ``day`` in the tenant's zone."""
    return dt.datetime.combine(day, dt.time.min, tzinfo=tenant.tzinfo)
