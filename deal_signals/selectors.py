"""Reads of deal signals: the inbox, the navigation count and the outcomes of each rule.

Outcomes are correlations: a signal followed by a deal does not show the signal (or the
support that followed it) caused the deal.
"""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass

from django.db.models import DateTimeField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from activities.models import Deal
from deal_signals.models import DealSignal, SignalKind, SignalRule
from pse_crm.models import Tenant
from pse_crm.tenancy import require_scope

__all__ = [
    "OUTCOME_WINDOWS",
    "RuleOutcome",
    "deal_signal_list",
    "deal_signal_open_count",
    "deal_signal_rule_outcomes",
    "signal_rules_get",
]

OUTCOME_WINDOWS = (30, 60)


def deal_signal_list(
    *,
    kind: str | None = None,
    partner_id: int | None = None,
    status: str | None = None,
) -> QuerySet[DealSignal]:
    """The tenant's signals, newest first, optionally narrowed by kind, partner and status.

    An expired-but-unswept signal still reads as ``new`` until the hourly sweep or the next
    evaluation marks it; the inbox shows its expiry time.
    """
    qs = DealSignal.objects.select_related("rep", "partner", "support_task").order_by(
        "-created_at", "-pk"
    )
    if kind:
        qs = qs.filter(kind=kind)
    if partner_id:
        qs = qs.filter(partner_id=partner_id)
    if status:
        qs = qs.filter(status=status)
    return qs


def signal_rules_get(*, tenant: Tenant) -> dict[str, SignalRule]:
    """Every kind's rule of ``tenant`` (the tenant in scope), by kind (in ``SignalKind``
    order); one query, no write. Rules are stored when a tenant is created; a kind whose rule
    is missing anyway (deleted by hand) shows the defaults, unsaved, until a write stores it."""
    require_scope(tenant)
    stored = {rule.kind: rule for rule in SignalRule.objects.all()}
    defaults = SignalRule.DEFAULTS
    return {
        kind: stored.get(kind) or SignalRule(tenant=tenant, kind=kind, **defaults[kind])
        for kind in SignalKind.values
    }


def deal_signal_open_count() -> int:
    """How many of the tenant's signals are waiting for someone (status ``new``)."""
    return DealSignal.objects.filter(
        status=DealSignal.Status.NEW, expires_at__gt=timezone.now()
    ).count()


@dataclass(frozen=True)
class WindowOutcome:
    days: int
    n: int  # signals old enough to have had the whole window
    deals: int  # followed by a new deal of the rep within the window
    wins: int  # followed by a won deal of the rep within the window
    median_days_to_deal: float | None
    median_days_to_win: float | None

    @property
    def deal_rate(self) -> float | None:
        return self.deals / self.n if self.n else None

    @property
    def win_rate(self) -> float | None:
        return self.wins / self.n if self.n else None


@dataclass(frozen=True)
class RuleOutcome:
    kind: str
    total: int
    windows: tuple[WindowOutcome, ...]


def deal_signal_rule_outcomes(*, now: dt.datetime | None = None) -> dict[str, RuleOutcome]:
    """For each kind of signal: of the signals at least 30 / 60 days old, how many were
    followed by a new deal, and by a won deal, of the same rep within 30 / 60 days, and the
    median days until then.

    A "new deal" is one created (in Salesforce, else when stored) at or after the signal; a
    "won deal" is a won deal of the rep whose close date is on or after the signal's day.
    One query over the tenant's signals; the counting is done here.
    """
    now = now or timezone.now()
    deal_created = Coalesce("sf_created_at", "created_at", output_field=DateTimeField())
    first_deal = (
        Deal.objects.filter(rep_id=OuterRef("rep_id"), is_deleted=False)
        .annotate(opened=deal_created)
        .filter(opened__gte=OuterRef("created_at"))
        .order_by("opened")
        .values("opened")[:1]
    )
    first_win = (
        Deal.objects.filter(
            rep_id=OuterRef("rep_id"),
            is_deleted=False,
            is_won=True,
            close_date__isnull=False,
            close_date__gte=OuterRef("created_on"),
        )
        .order_by("close_date")
        .values("close_date")[:1]
    )
    rows = (
        DealSignal.objects.order_by()
        .annotate(created_on=TruncDate("created_at"))
        .annotate(first_deal_at=Subquery(first_deal), first_win_on=Subquery(first_win))
        .values_list("kind", "created_at", "first_deal_at", "first_win_on")
    )
    by_kind: dict[str, list[tuple]] = {k: [] for k in SignalKind.values}
    for kind, created_at, first_deal_at, first_win_on in rows:
        by_kind.setdefault(kind, []).append((created_at, first_deal_at, first_win_on))
    tz = timezone.get_current_timezone()
    result = {}
    for kind, signals in by_kind.items():
        windows = []
        for days in OUTCOME_WINDOWS:
            mature = [s for s in signals if s[0] <= now - dt.timedelta(days=days)]
            to_deal = []
            to_win = []
            for created_at, first_deal_at, first_win_on in mature:
                if first_deal_at is not None:
                    waited = (first_deal_at - created_at).total_seconds() / 86400
                    if waited <= days:
                        to_deal.append(waited)
                if first_win_on is not None:
                    waited = (first_win_on - timezone.localtime(created_at, tz).date()).days
                    if waited <= days:
                        to_win.append(float(waited))
            windows.append(
                WindowOutcome(
                    days=days,
                    n=len(mature),
                    deals=len(to_deal),
                    wins=len(to_win),
                    median_days_to_deal=round(statistics.median(to_deal), 1) if to_deal else None,
                    median_days_to_win=round(statistics.median(to_win), 1) if to_win else None,
                )
            )
        result[kind] = RuleOutcome(kind=kind, total=len(signals), windows=tuple(windows))
    return result
