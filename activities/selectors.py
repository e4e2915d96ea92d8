"""Reads of the activities app: sync settings, the deal sync watermark and resync list."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, F, Max, Q
from django.db.models.functions import Coalesce, TruncWeek

from activities.models import (
    DEAL_UNCONVERTED,
    CurrencyRate,
    DatedCurrencyRate,
    Deal,
    DealResync,
    SyncSettings,
)
from pse_crm.models import Tenant
from pse_crm.tenancy import require_scope


def sync_settings_get(*, tenant: Tenant) -> SyncSettings:
    """The tenant's Salesforce sync settings; an unsaved row with the defaults when none exists."""
    found = SyncSettings.objects.filter(tenant=tenant).first()
    return found if found is not None else SyncSettings(tenant=tenant)


def deal_sync_watermark(*, tenant: Tenant) -> dt.datetime | None:
    """The newest ``SystemModstamp`` stored for the tenant (deleted deals included), or None.

    A client resumes its Salesforce query from here (``SystemModstamp >= watermark``).
    """
    return Deal.objects.filter(tenant=tenant).aggregate(m=Max("system_modstamp"))["m"]


# --- Currencies ---------------------------------------------------------------------------

# The deals that enter the sums (won or open, not deleted) but could not be converted.
_SUMMED_UNCONVERTED = DEAL_UNCONVERTED & Q(is_deleted=False) & (Q(is_won=True) | Q(is_closed=False))


@dataclass(frozen=True)
class UnconvertedDeals:
    """Won or open deals left out of every sum: their currency has no rate."""

    count: int
    by_currency: dict[str, int]

    @property
    def currencies(self) -> list[str]:
        return sorted(self.by_currency)


def deals_unconverted(
    *, tenant: Tenant, partner_id: int | None = None, rep_id: int | None = None
) -> UnconvertedDeals:
    """The tenant's (or one partner's, or one rep's) won or open deals with an amount and
    no corporate amount, per currency. A deal's partner is its own, else its rep's (as in
    the momentum). One query."""
    require_scope(tenant)
    deals = Deal.objects.filter(_SUMMED_UNCONVERTED, tenant=tenant)
    if partner_id is not None:
        deals = deals.annotate(p=Coalesce("partner_id", "rep__partner_id")).filter(p=partner_id)
    if rep_id is not None:
        deals = deals.filter(rep_id=rep_id)
    by_currency = dict(
        deals.order_by().values("currency").annotate(n=Count("pk")).values_list("currency", "n")
    )
    return UnconvertedDeals(count=sum(by_currency.values()), by_currency=by_currency)


def deals_unconverted_counts(
    *, tenant: Tenant, by: str, ids: list[int] | set[int] | None = None
) -> dict[int, int]:
    """Unconverted won or open deals per partner (``by="partner"``: the deal's own, else
    its rep's) or per rep (``by="rep"``), for ``ids`` (every one when None). One query."""
    require_scope(tenant)
    key = Coalesce("partner_id", "rep__partner_id") if by == "partner" else F("rep_id")
    deals = Deal.objects.filter(_SUMMED_UNCONVERTED, tenant=tenant).annotate(k=key)
    if ids is not None:
        deals = deals.filter(k__in=list(ids))
    return dict(
        deals.exclude(k__isnull=True)
        .order_by()
        .values("k")
        .annotate(n=Count("pk"))
        .values_list("k", "n")
    )


def deal_resync_list(*, tenant: Tenant, limit: int = 1000) -> tuple[list[DealResync], int]:
    """The tenant's Opportunity ids listed for a resync (oldest noted first, at most
    ``limit``) and how many are listed in all."""
    listed = DealResync.objects.filter(tenant=tenant)
    return list(listed.order_by("noted_at", "sf_id")[:limit]), listed.count()


@dataclass(frozen=True)
class SalesforceStatus:
    """What the settings page and the API show of the tenant's Salesforce connector."""

    connection: object | None  # SalesforceConnection
    last_pull: object | None  # the newest incremental or full SalesforcePullRun
    last_reconcile: object | None
    last_success_at: dt.datetime | None  # started_at of the newest succeeded pull
    lag_seconds: int | None  # now − last_success_at: Salesforce changes are at most this old
    running: bool
    recent_runs: list
    resync_ids: list[str]
    resync_count: int


def salesforce_status(*, tenant: Tenant, now: dt.datetime | None = None) -> SalesforceStatus:
    """The connector's status: the connection, last runs, lag and the resync list. A
    handful of indexed queries, whatever the number of runs."""
    from django.utils import timezone

    from activities.models import SalesforceConnection, SalesforcePullRun
    from pse_crm.tenancy import require_scope

    require_scope(tenant)
    now = now or timezone.now()
    runs = SalesforcePullRun.objects.filter(tenant=tenant)
    pulls = runs.exclude(kind=SalesforcePullRun.Kind.RECONCILE)
    recent = list(runs.order_by("-started_at", "-pk")[:10])
    succeeded = (
        pulls.filter(status=SalesforcePullRun.Status.SUCCEEDED)
        .order_by("-started_at")
        .values_list("started_at", flat=True)
        .first()
    )
    resyncs, resync_count = deal_resync_list(tenant=tenant, limit=50)
    return SalesforceStatus(
        connection=SalesforceConnection.objects.filter(tenant=tenant).first(),
        last_pull=pulls.order_by("-started_at", "-pk").first(),
        last_reconcile=runs.filter(kind=SalesforcePullRun.Kind.RECONCILE)
        .order_by("-started_at", "-pk")
        .first(),
        last_success_at=succeeded,
        lag_seconds=None if succeeded is None else max(0, int((now - succeeded).total_seconds())),
        running=any(r.status == SalesforcePullRun.Status.RUNNING for r in recent),
        recent_runs=recent,
        resync_ids=[r.sf_id for r in resyncs],
        resync_count=resync_count,
    )


def currency_rates_get(*, tenant: Tenant) -> tuple[list[CurrencyRate], list[DatedCurrencyRate]]:
    """The tenant's stored rates: every ``CurrencyRate`` by ISO code, and the dated rates
    by ISO code, the latest start date first. Two queries."""
    require_scope(tenant)
    rates = list(CurrencyRate.objects.filter(tenant=tenant).order_by("iso_code"))
    dated = list(
        DatedCurrencyRate.objects.filter(tenant=tenant).order_by("iso_code", "-start_date")
    )
    return rates, dated


def deals_unconverted_won_by_week(
    *, tenant: Tenant, mondays: set[dt.date] | list[dt.date]
) -> dict[tuple[int | None, dt.date], int]:
    """Won deals left out of the won amounts, per (partner, ISO week of the close date), as
    the momentum counts its wins (a deal's partner is its own, else its rep's; deleted
    deals never count). Key ``(None, monday)`` is the whole tenant. One query."""
    require_scope(tenant)
    mondays = sorted(set(mondays))
    if not mondays:
        return {}
    rows = (
        Deal.objects.filter(
            DEAL_UNCONVERTED,
            tenant=tenant,
            is_won=True,
            is_deleted=False,
            close_date__gte=mondays[0],
            close_date__lt=mondays[-1] + dt.timedelta(days=7),
        )
        .annotate(p=Coalesce("partner_id", "rep__partner_id"), w=TruncWeek("close_date"))
        .order_by()
        .values("p", "w")
        .annotate(n=Count("pk"))
        .values_list("p", "w", "n")
    )
    wanted = set(mondays)
    out: dict[tuple[int | None, dt.date], int] = {}
    for partner_id, week, n in rows:
        monday = week.date() if isinstance(week, dt.datetime) else week
        if monday not in wanted:
            continue
        if partner_id is not None:
            out[(partner_id, monday)] = out.get((partner_id, monday), 0) + n
        out[(None, monday)] = out.get((None, monday), 0) + n
    return out
