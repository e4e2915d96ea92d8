"""Quick wins (クイックウィン): for each started support task, did the rep win a deal, or
open a new one, within N days of the support starting?"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from activities.models import Deal
from pse_crm.calendar import day_start, local_date, tenant_today
from pse_crm.models import Tenant
from pse_crm.tenancy import require_scope
from support.models import QuickWin, SupportTask
from support.selectors.quick_wins import quick_win_days

Outcome = QuickWin.Outcome


def _first(candidates: list[tuple[dt.date, int]]) -> tuple[dt.date, int] | tuple[None, None]:
    return min(candidates) if candidates else (None, None)


def quick_wins_compute(
    *, tenant: Tenant, task_ids: Iterable[int] | None = None, now: dt.datetime | None = None
) -> int:
    """Compute and store the quick-win outcome of every started task (or of ``task_ids``).

    The rules, in the tenant's time zone: the window is day 0 (the day the task went in
    progress) to day N inclusive (N = the tenant's ``quick_win_days``, default 60).
    *won*: a won deal of the rep with ``close_date`` in the window; *opened*: a deal of the
    rep created in Salesforce (``sf_created_at``) in the window; a deal won or opened before
    day 0 does not count; deleted deals never count. Otherwise *pending* while the window
    is open, *missed* after. ``days_to_win`` is the days from day 0 to the first win.

    Guarantees: reads only stored deals, so a deal synced late is counted on the next run;
    idempotent (one row per task, upserted); three queries whatever the number of tasks.
    Returns the number of tasks computed.
    """
    require_scope(tenant)
    now = now or timezone.now()
    today = tenant_today(tenant, now=now)
    window = quick_win_days(tenant=tenant)
    tasks_qs = SupportTask.objects.filter(started_at__isnull=False)
    if task_ids is not None:
        tasks_qs = tasks_qs.filter(pk__in=list(task_ids))
    tasks = list(tasks_qs.values_list("pk", "rep_id", "started_at"))
    if not tasks:
        return 0
    starts = {pk: (rep_id, local_date(tenant, started)) for pk, rep_id, started in tasks}
    earliest = min(day for _, day in starts.values())

    deals_by_rep: dict[int, list[tuple[int, bool, dt.date | None, dt.date | None]]] = defaultdict(
        list
    )
    deals = (
        Deal.objects.filter(rep_id__in=tasks_qs.values("rep_id"), is_deleted=False)
        .filter(
            Q(is_won=True, close_date__gte=earliest)
            | Q(sf_created_at__gte=day_start(tenant, earliest))
        )
        .values_list("pk", "rep_id", "is_won", "close_date", "sf_created_at")
    )
    for pk, rep_id, is_won, close_date, sf_created_at in deals:
        opened_on = local_date(tenant, sf_created_at) if sf_created_at else None
        deals_by_rep[rep_id].append((pk, is_won, close_date, opened_on))

    rows = []
    for task_pk, (rep_id, start) in starts.items():
        end = start + dt.timedelta(days=window)
        wins, opens = [], []
        for deal_pk, is_won, close_date, opened_on in deals_by_rep.get(rep_id, ()):
            if is_won and close_date is not None and start <= close_date <= end:
                wins.append((close_date, deal_pk))
            if opened_on is not None and start <= opened_on <= end:
                opens.append((opened_on, deal_pk))
        won_on, won_deal = _first(wins)
        opened_on, opened_deal = _first(opens)
        if won_on is not None:
            outcome = Outcome.WON
        elif opened_on is not None:
            outcome = Outcome.OPENED
        elif today > end:
            outcome = Outcome.MISSED
        else:
            outcome = Outcome.PENDING
        achieved = [d for d in (won_on, opened_on) if d is not None]
        rows.append(
            QuickWin(
                tenant_id=tenant.pk,
                task_id=task_pk,
                started_on=start,
                window_days=window,
                outcome=outcome,
                won_deal_id=won_deal,
                won_on=won_on,
                days_to_win=(won_on - start).days if won_on else None,
                opened_deal_id=opened_deal,
                opened_on=opened_on,
                achieved_on=min(achieved) if achieved else None,
                computed_at=now,
            )
        )
    with transaction.atomic():
        QuickWin.objects.bulk_create(
            rows,
            batch_size=1000,
            update_conflicts=True,
            unique_fields=["task"],
            update_fields=[
                "started_on",
                "window_days",
                "outcome",
                "won_deal",
                "won_on",
                "days_to_win",
                "opened_deal",
                "opened_on",
                "achieved_on",
                "computed_at",
            ],
        )
    return len(rows)
