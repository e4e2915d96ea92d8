"""Share of wallet (シェア), read set-based: our won amount in a partner and period ÷ the
partner's total for that period, both in the tenant's corporate currency.

A selector module (reads only), kept apart from ``web.selectors`` because it is one job:
a fixed number of queries (partners, wins, totals) whatever the number of partners and
periods.

The rules, in one place:

- our amount: ``amount_corporate`` of the partner's won, not deleted deals whose close date
  (a Salesforce date: already the org's calendar day) falls in the period. A won deal
  whose currency has no rate is counted in ``unconverted_deals``, never summed raw.
- the partner's total converts at the rate of the period's last day (a dated rate covering
  it, else the currency's active rate) by ``corporate_amount_expression``, the rule of
  ``convert_amount`` in SQL; with no rate at all it is ``total_unconverted`` and there is
  no share.
- no total: no share (``None``), never 0%. Our amount above the total: ``inconsistent``
  and no share, never 130%.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection
from django.db.models import BigIntegerField, Case, Count, DateField, Sum, TextField, Value, When
from django.db.models.functions import Cast

from activities.models import DEAL_UNCONVERTED, Deal, PartnerWonMonth
from activities.services.currencies import corporate_amount_expression
from partners.models import Partner, PartnerTotal
from partners.periods import QUARTER, period_label, period_of, period_shift, periods_between
from pse_crm.calendar import tenant_today
from pse_crm.models import Tenant
from pse_crm.tenancy import require_scope

__all__ = [
    "MAX_PERIODS",
    "ShareOfWallet",
    "ShareTrend",
    "partner_share_history",
    "share_movers",
    "share_of_wallet",
    "share_trends",
]

# The most periods one read covers (ten years of quarters).
MAX_PERIODS = 40
# The quarters of a partner's page and chart, the current one (in progress) included.
PARTNER_QUARTERS = 8


@dataclass(frozen=True)
class ShareOfWallet:
    """One partner in one period."""

    partner_id: int
    partner_name: str
    granularity: str
    period_start: dt.date
    period_end: dt.date
    our_amount: Decimal
    our_deals: int
    unconverted_deals: int
    partner_total: Decimal | None  # in the corporate currency
    total_amount: Decimal | None  # as reported
    currency: str
    total_unconverted: bool
    partner_deal_count: int | None
    competing_products: int | None
    competing_product_names: list[str] = field(default_factory=list)
    source: str | None = None
    note: str = ""
    has_total: bool = False
    share: float | None = None
    deal_share: float | None = None
    inconsistent: bool = False
    in_progress: bool = False

    @property
    def label(self) -> str:
        return period_label(self.period_start, self.granularity)

    @property
    def status(self) -> str:
        """``share``, ``no_total``, ``inconsistent``, ``unconverted`` or ``no_amount``."""
        if not self.has_total:
            return "no_total"
        if self.inconsistent:
            return "inconsistent"
        if self.total_unconverted:
            return "unconverted"
        if self.share is None:
            return "no_amount"
        return "share"


def _ratio(ours: Decimal | int, total: Decimal | int | None) -> tuple[float | None, bool]:
    """(share, inconsistent): no share without a positive total; above it: inconsistent."""
    if total is None:
        return None, False
    if ours > total:
        return None, True
    if total == 0:
        return None, False
    return float(Decimal(ours) / Decimal(total)), False


def _period_of(periods: list[tuple[dt.date, dt.date]], date_field: str) -> Case:
    """The start of the period (of ``periods``, contiguous) a date falls in (a deal's close
    date, a roll-up's month): the latest start not after it; the rows are already limited
    to the periods' span. Comparisons of dates, where ``TruncQuarter`` cast each close date
    to a timestamp with time zone and back (the dashboard's statement over 32,000 won
    deals: 17.5 → 12.5 ms)."""
    whens = [
        When(**{f"{date_field}__gte": start}, then=Value(start))
        for start, _end in reversed(periods)
    ]
    return Case(*whens[:-1], default=whens[-1].result, output_field=DateField())


def _wins(*, tenant: Tenant, ids, periods: list[tuple[dt.date, dt.date]]) -> dict:
    """(partner, period start) → (won amount, won deals, won unconverted) of the partners
    ``ids`` (a subquery). On PostgreSQL from the won deals' monthly roll-up
    (``activities.PartnerWonMonth``, kept by triggers; every period is whole months): the
    dashboard's two quarters are 1,800 rows instead of 32,000 deals. On SQLite, which has
    no roll-up, from the deals. The same sums either way (tests/activities/test_won_months.py)."""
    first, last = periods[0][0], periods[-1][1]
    if connection.vendor == "postgresql":
        rows = (
            PartnerWonMonth.objects.filter(
                tenant=tenant, partner_id__in=ids, month__gte=first, month__lte=last
            )
            .annotate(period=_period_of(periods, "month"))
            .values("partner_id", "period")
            .annotate(
                won_amount=Sum("won_amount"),
                # SUM of a bigint is a numeric: cast back, so the counts are integers.
                won_deals=Cast(Sum("won_deals"), BigIntegerField()),
                won_unconverted=Cast(Sum("won_unconverted"), BigIntegerField()),
            )
        )
    else:
        rows = (
            Deal.objects.filter(
                tenant=tenant,
                partner_id__in=ids,
                is_won=True,
                is_deleted=False,
                close_date__gte=first,
                close_date__lte=last,
            )
            .annotate(period=_period_of(periods, "close_date"))
            .values("partner_id", "period")
            .annotate(
                # Not "amount": DEAL_UNCONVERTED names the deal's own amount field. No
                # column but those summed and filtered (COUNT(*); COUNT(amount), never
                # null where DEAL_UNCONVERTED holds), so an index that includes them
                # answers alone.
                won_amount=Sum("amount_corporate"),
                won_deals=Count("*"),
                won_unconverted=Count("amount", filter=DEAL_UNCONVERTED),
            )
        )
    return {
        (partner_id, period): (amount, deals, unconverted)
        for partner_id, period, amount, deals, unconverted in rows.order_by().values_list(
            "partner_id", "period", "won_amount", "won_deals", "won_unconverted"
        )
    }


def _share_inputs(
    *,
    tenant: Tenant,
    periods: list[tuple[dt.date, dt.date]],
    granularity: str,
    partner_ids: Collection[int] | None,
) -> tuple[list[tuple[int, str]], dict, dict]:
    """The partners (by name), their wins by (partner, period start) as (won amount, won
    deals, won unconverted) and their totals by (partner, period start): three queries."""
    first, last = periods[0][0], periods[-1][1]
    partners = Partner.objects.filter(tenant=tenant)
    if partner_ids is not None:
        partners = partners.filter(pk__in=list(partner_ids))
    partner_rows = list(partners.order_by("name", "pk").values_list("pk", "name"))
    if not partner_rows:
        return [], {}, {}
    # The same partners as a subquery, not a list of 300 ids: psycopg parsed and bound
    # each id of both statements. Only keys of ``partner_rows`` are ever looked up.
    ids = partners.values("pk")
    wins = _wins(tenant=tenant, ids=ids, periods=periods)
    # Plain rows of the columns used, not model instances (a dashboard reads every
    # partner's totals: building instances cost more than the query at 300 partners).
    totals = {
        (t["partner_id"], t["period_start"]): t
        for t in PartnerTotal.objects.filter(
            tenant=tenant,
            partner_id__in=ids,
            granularity=granularity,
            period_start__gte=first,
            period_start__lte=last,
        )
        .annotate(
            # The one conversion rule, at the period's last day (held to ``convert_amount``
            # by tests/partners/test_share_of_wallet.py).
            total_corporate=corporate_amount_expression(
                tenant=tenant, amount="total_amount", on_date="period_end"
            ),
            # As text, decoded only for the rows built (``_share_row``): the dashboard
            # reads every partner's totals and shows ten of them.
            competing_product_names_json=Cast("competing_product_names", TextField()),
        )
        .values(
            "partner_id",
            "period_start",
            "total_corporate",
            "total_amount",
            "currency",
            "deal_count",
            "competing_products",
            "competing_product_names_json",
            "source",
            "note",
        )
        .order_by()
    }
    return partner_rows, wins, totals


def _share_row(
    *,
    partner_id: int,
    name: str,
    granularity: str,
    start: dt.date,
    end: dt.date,
    win: tuple | None,
    total: dict | None,
    today: dt.date,
) -> ShareOfWallet:
    """One partner in one period, from its wins and its total (``_share_inputs``)."""
    amount, deals, unconverted = win or (None, None, None)
    our_amount = amount or Decimal(0)
    our_deals = deals or 0
    converted = total["total_corporate"] if total is not None else None
    share, inconsistent = _ratio(our_amount, converted)
    deal_count = total["deal_count"] if total is not None else None
    deal_share, deals_inconsistent = _ratio(our_deals, deal_count)
    return ShareOfWallet(
        partner_id=partner_id,
        partner_name=name,
        granularity=granularity,
        period_start=start,
        period_end=end,
        our_amount=Decimal(our_amount),
        our_deals=our_deals,
        unconverted_deals=unconverted or 0,
        partner_total=converted,
        total_amount=total["total_amount"] if total is not None else None,
        currency=total["currency"] if total is not None else "",
        total_unconverted=total is not None
        and total["total_amount"] is not None
        and converted is None,
        partner_deal_count=deal_count,
        competing_products=total["competing_products"] if total is not None else None,
        competing_product_names=list(json.loads(total["competing_product_names_json"]))
        if total is not None
        else [],
        source=total["source"] if total is not None else None,
        note=total["note"] if total is not None else "",
        has_total=total is not None,
        share=share,
        deal_share=deal_share,
        inconsistent=inconsistent or deals_inconsistent,
        in_progress=end >= today,
    )


def _checked_periods(
    period_after: dt.date, period_before: dt.date, granularity: str
) -> list[tuple[dt.date, dt.date]]:
    """The periods of ``granularity`` that meet the range; ``ValueError`` beyond
    ``MAX_PERIODS``."""
    periods = periods_between(period_after, period_before, granularity)
    if len(periods) > MAX_PERIODS:
        raise ValueError(f"at most {MAX_PERIODS} periods")
    return periods


def share_of_wallet(
    *,
    tenant: Tenant,
    period_after: dt.date,
    period_before: dt.date,
    granularity: str = QUARTER,
    partner_ids: Collection[int] | None = None,
) -> list[ShareOfWallet]:
    """Every partner (or ``partner_ids``) × every period of ``granularity`` that meets
    [``period_after``, ``period_before``], by partner name then period.

    Three queries whatever the number of partners and periods; at most ``MAX_PERIODS``
    periods (``ValueError`` beyond).
    """
    require_scope(tenant)
    periods = _checked_periods(period_after, period_before, granularity)
    if not periods:
        return []
    partner_rows, wins, totals = _share_inputs(
        tenant=tenant, periods=periods, granularity=granularity, partner_ids=partner_ids
    )
    today = tenant_today(tenant)
    return [
        _share_row(
            partner_id=partner_id,
            name=name,
            granularity=granularity,
            start=start,
            end=end,
            win=wins.get((partner_id, start)),
            total=totals.get((partner_id, start)),
            today=today,
        )
        for partner_id, name in partner_rows
        for start, end in periods
    ]


def partner_share_history(
    *, tenant: Tenant, partner_id: int, quarters: int = PARTNER_QUARTERS
) -> list[ShareOfWallet]:
    """A partner's share in its last ``quarters`` quarters, the current one (in progress)
    included, oldest first (three queries)."""
    start, end = period_of(tenant_today(tenant), QUARTER)
    first, _last = period_shift(start, QUARTER, -(quarters - 1))
    return share_of_wallet(
        tenant=tenant, period_after=first, period_before=end, partner_ids=[partner_id]
    )


def last_complete_period(tenant: Tenant, granularity: str = QUARTER) -> tuple[dt.date, dt.date]:
    """The latest period that has ended in the tenant's calendar."""
    start, _end = period_of(tenant_today(tenant), granularity)
    return period_shift(start, granularity, -1)


@dataclass(frozen=True)
class ShareTrend:
    """A partner's share in the last complete period against the one before."""

    last: ShareOfWallet
    previous: ShareOfWallet

    @property
    def change(self) -> float | None:
        """In points of share (0.05 = five points); None unless both periods have one."""
        if self.last.share is None or self.previous.share is None:
            return None
        return self.last.share - self.previous.share

    @property
    def change_points(self) -> float | None:
        """The change in percentage points (5.0 = five points)."""
        change = self.change
        return None if change is None else change * 100


def share_trends(
    *, tenant: Tenant, granularity: str = QUARTER, partner_ids: Collection[int] | None = None
) -> dict[int, ShareTrend]:
    """Per partner: the last complete period and the one before (three queries)."""
    last_start, last_end = last_complete_period(tenant, granularity)
    previous_start, _end = period_shift(last_start, granularity, -1)
    rows = share_of_wallet(
        tenant=tenant,
        period_after=previous_start,
        period_before=last_end,
        granularity=granularity,
        partner_ids=partner_ids,
    )
    by_partner: dict[int, list[ShareOfWallet]] = {}
    for row in rows:
        by_partner.setdefault(row.partner_id, []).append(row)
    return {
        pk: ShareTrend(last=pair[1], previous=pair[0])
        for pk, pair in by_partner.items()
        if len(pair) == 2
    }


def share_movers(*, tenant: Tenant, granularity: str = QUARTER, limit: int = 5) -> dict:
    """The biggest gainers and losers of share in the last complete period (three
    queries). A partner without a share in both periods is neither.

    The same trends as ``share_trends`` over every partner, but only the rows shown (the
    movers and the period) are built: the share of each partner and period is the same
    ``_ratio`` of the same figures, so the movers, their order and the count without a
    share are those of ``share_trends`` (held equal by tests/web/test_share_pages.py)."""
    require_scope(tenant)
    last_start, last_end = last_complete_period(tenant, granularity)
    previous_start, previous_end = period_shift(last_start, granularity, -1)
    periods = [(previous_start, previous_end), (last_start, last_end)]
    partner_rows, wins, totals = _share_inputs(
        tenant=tenant, periods=periods, granularity=granularity, partner_ids=None
    )

    def share(partner_id: int, start: dt.date) -> float | None:
        win = wins.get((partner_id, start))
        total = totals.get((partner_id, start))
        ours = (win[0] if win is not None else None) or Decimal(0)
        return _ratio(ours, total["total_corporate"] if total is not None else None)[0]

    changes = []  # (change or None, partner row), by partner name
    for row in partner_rows:
        last, previous = share(row[0], last_start), share(row[0], previous_start)
        changes.append((None if last is None or previous is None else last - previous, row))
    moved = [(change, row) for change, row in changes if change is not None]
    gainers = sorted((m for m in moved if m[0] > 0), key=lambda m: -m[0])[:limit]
    losers = sorted((m for m in moved if m[0] < 0), key=lambda m: m[0])[:limit]
    today = tenant_today(tenant)

    def trend(row: tuple[int, str]) -> ShareTrend:
        built = [
            _share_row(
                partner_id=row[0],
                name=row[1],
                granularity=granularity,
                start=start,
                end=end,
                win=wins.get((row[0], start)),
                total=totals.get((row[0], start)),
                today=today,
            )
            for start, end in periods
        ]
        return ShareTrend(last=built[1], previous=built[0])

    return {
        "gainers": [trend(row) for _change, row in gainers],
        "losers": [trend(row) for _change, row in losers],
        "period": trend(partner_rows[0]).last if partner_rows else None,
        "without_share": sum(1 for change, _row in changes if change is None),
    }
