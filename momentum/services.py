"""Weekly momentum (モメンタム): one snapshot per ISO week (tenant time zone) per partner and
for the whole tenant.

The nightly build (the current week) and ``manage.py backfill_momentum`` (past weeks) both
call ``momentum_build``: one code path, so the same stored data gives the same numbers.

What each figure counts in a week [Monday 00:00, next Monday 00:00) of the tenant's zone:

* ``views``: material views by the partner's reps;
* ``active_reps``: distinct reps with a material view, a deal opened (``sf_created_at``) or a
  deal won (``close_date``) in the week: the segmentation's one meaning of activity
  (segmentation/services/segments.py) with the week as both windows, so an open deal
  opened earlier is not activity (tests/momentum/test_activity.py holds the two equal);
* ``reps``: the partner's reps employed today, plus any rep (even one who left since) who
  was active that week; ``activation_rate`` = active_reps / reps (0 with no reps);
* ``keyman1`` / ``keyman2``: performers / motivated reps in the segmentation run that was
  current at the week's end (the latest succeeded run with ``as_of`` before it). The
  backfill first runs the segmentation as of the end of each week that has none (see
  ``momentum_backfill``). A week older than every kept run (runs are pruned after the
  tenant's retention) takes the earliest kept run; with no run at all the counts are 0;
* ``new_deals``: deals created in Salesforce in the week; ``won_deals`` / ``won_amount``:
  deals won with ``close_date`` in the week (deleted deals never count; a deal's partner is
  its own, else its rep's; deals with neither count in the tenant row only);
* ``tasks_done``: support tasks for the partner's reps marked done in the week;
* ``quick_wins``: quick wins achieved in the week (see enablement.services.quick_wins; the
  quick-win outcomes are recomputed first by the callers);
* ``know_how_shares``: know-how shares with the partner or its reps dated in the week.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, F, Sum
from django.db.models.functions import Coalesce, TruncWeek
from django.utils import timezone

from activities.models import Deal, MaterialView
from knowhow.models import KnowHowShare
from momentum.models import MomentumSnapshot
from partners.models import Partner
from pse_crm.calendar import day_start, local_date, tenant_today, week_start
from pse_crm.models import Tenant
from pse_crm.tenancy import require_scope
from reps.models import Rep
from segmentation.models import Quadrant, RepSegment, SegmentationRun
from support.models import QuickWin, SupportTask

COUNT_FIELDS = (
    "reps",
    "active_reps",
    "keyman1",
    "keyman2",
    "views",
    "new_deals",
    "won_deals",
    "tasks_done",
    "quick_wins",
    "know_how_shares",
)


def _week(value) -> dt.date:
    """A TruncWeek result as the Monday's date (aware datetimes are already local)."""
    return value.date() if isinstance(value, dt.datetime) else value


def _per_partner_week(qs, *, partner, week_expr) -> dict[tuple[int | None, dt.date], dict]:
    return {
        (row["p"], _week(row["w"])): row
        for row in qs.annotate(p=partner, w=week_expr).values("p", "w").annotate(n=Count("pk"))
    }


def _keyman_counts(
    tenant: Tenant, mondays: list[dt.date]
) -> dict[dt.date, dict[int, tuple[int, int]]]:
    """{monday: {partner_id: (keyman1, keyman2)}} from the run current at each week's end."""
    runs = list(
        SegmentationRun.objects.filter(status=SegmentationRun.Status.SUCCEEDED)
        .order_by("as_of", "pk")
        .values_list("pk", "as_of")
    )
    if not runs:
        return {}
    chosen: dict[dt.date, int] = {}
    for monday in mondays:
        week_end = day_start(tenant, monday + dt.timedelta(days=7))
        before = [pk for pk, as_of in runs if as_of < week_end]
        chosen[monday] = before[-1] if before else runs[0][0]
    counts: dict[int, dict[int, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    rows = (
        RepSegment.objects.filter(
            run_id__in=set(chosen.values()), quadrant__in=[Quadrant.PERFORMER, Quadrant.MOTIVATED]
        )
        .values("run_id", "partner_id", "quadrant")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for row in rows:
        slot = 0 if row["quadrant"] == Quadrant.PERFORMER else 1
        counts[row["run_id"]][row["partner_id"]][slot] = row["n"]
    return {
        monday: {p: (c[0], c[1]) for p, c in counts[run].items()} for monday, run in chosen.items()
    }


def momentum_build(
    *, tenant: Tenant, mondays: Iterable[dt.date], now: dt.datetime | None = None
) -> int:
    """Build (or rebuild) the momentum snapshots of the ISO weeks starting on ``mondays``.

    Guarantees: one row per partner and one tenant row (partner empty) per week, replacing
    the week's previous rows in one transaction (idempotent); figures as in the module
    docstring; a fixed number of grouped queries whatever the number of weeks or partners.
    Returns the number of rows written.
    """
    require_scope(tenant)
    tz = tenant.tzinfo
    now = now or timezone.now()
    weeks = sorted({week_start(m) for m in mondays})
    if not weeks:
        return 0
    wanted = set(weeks)
    first, last = weeks[0], weeks[-1] + dt.timedelta(days=7)
    lo, hi = day_start(tenant, first), day_start(tenant, last)

    views = MaterialView.objects.filter(viewed_at__gte=lo, viewed_at__lt=hi)
    deals = Deal.objects.filter(is_deleted=False)
    opened = deals.filter(sf_created_at__gte=lo, sf_created_at__lt=hi)
    won = deals.filter(is_won=True, close_date__gte=first, close_date__lt=last)
    deal_partner = Coalesce(F("partner_id"), F("rep__partner_id"))
    views_w = TruncWeek("viewed_at", tzinfo=tz)
    opened_w = TruncWeek("sf_created_at", tzinfo=tz)
    won_w = TruncWeek("close_date")

    view_counts = _per_partner_week(views, partner=F("rep__partner_id"), week_expr=views_w)
    new_deal_counts = _per_partner_week(opened, partner=deal_partner, week_expr=opened_w)
    won_rows = {
        (row["p"], _week(row["w"])): row
        for row in won.annotate(p=deal_partner, w=won_w)
        .values("p", "w")
        .annotate(n=Count("pk"), amount=Sum("amount_corporate"))
    }
    tasks_done = _per_partner_week(
        SupportTask.objects.filter(status=SupportTask.Status.DONE, done_at__gte=lo, done_at__lt=hi),
        partner=F("rep__partner_id"),
        week_expr=TruncWeek("done_at", tzinfo=tz),
    )
    quick_wins = _per_partner_week(
        QuickWin.objects.filter(
            outcome__in=[QuickWin.Outcome.WON, QuickWin.Outcome.OPENED],
            achieved_on__gte=first,
            achieved_on__lt=last,
        ),
        partner=F("task__rep__partner_id"),
        week_expr=TruncWeek("achieved_on"),
    )
    shares = _per_partner_week(
        KnowHowShare.objects.filter(shared_on__gte=first, shared_on__lt=last),
        partner=F("partner_id"),
        week_expr=TruncWeek("shared_on"),
    )

    # Active reps: distinct (rep, week) over views, opened deals and won deals.
    active: dict[tuple[int, dt.date], set[int]] = defaultdict(set)
    left_active: dict[tuple[int, dt.date], set[int]] = defaultdict(set)
    sources = [
        views.annotate(w=views_w),
        opened.filter(rep__isnull=False).annotate(w=opened_w),
        won.filter(rep__isnull=False).annotate(w=won_w),
    ]
    for qs in sources:
        for rep_id, partner_id, employed, w in (
            qs.order_by()
            .values_list("rep_id", "rep__partner_id", "rep__is_employed", "w")
            .distinct()
        ):
            key = (partner_id, _week(w))
            active[key].add(rep_id)
            if not employed:
                left_active[key].add(rep_id)
    employed = Counter(
        dict(
            Rep.objects.filter(is_employed=True)
            .values("partner_id")
            .annotate(n=Count("pk"))
            .order_by()
            .values_list("partner_id", "n")
        )
    )
    keymen = _keyman_counts(tenant, weeks)

    partner_ids = list(Partner.objects.order_by("pk").values_list("pk", flat=True))
    rows: list[MomentumSnapshot] = []
    for monday in weeks:
        iso = monday.isocalendar()
        total = dict.fromkeys(COUNT_FIELDS, 0)
        total_amount = Decimal(0)
        for partner_id in partner_ids:
            key = (partner_id, monday)
            figures = {
                "reps": employed.get(partner_id, 0) + len(left_active.get(key, ())),
                "active_reps": len(active.get(key, ())),
                "keyman1": keymen.get(monday, {}).get(partner_id, (0, 0))[0],
                "keyman2": keymen.get(monday, {}).get(partner_id, (0, 0))[1],
                "views": view_counts.get(key, {}).get("n", 0),
                "new_deals": new_deal_counts.get(key, {}).get("n", 0),
                "won_deals": won_rows.get(key, {}).get("n", 0),
                "tasks_done": tasks_done.get(key, {}).get("n", 0),
                "quick_wins": quick_wins.get(key, {}).get("n", 0),
                "know_how_shares": shares.get(key, {}).get("n", 0),
            }
            amount = won_rows.get(key, {}).get("amount") or Decimal(0)
            for name, value in figures.items():
                total[name] += value
            total_amount += amount
            rows.append(_snapshot(tenant, partner_id, monday, iso, figures, amount, now))
        # Deals linked to no partner (nor a rep) count in the tenant row only.
        total["new_deals"] += new_deal_counts.get((None, monday), {}).get("n", 0)
        total["won_deals"] += won_rows.get((None, monday), {}).get("n", 0)
        total_amount += won_rows.get((None, monday), {}).get("amount") or Decimal(0)
        rows.append(_snapshot(tenant, None, monday, iso, total, total_amount, now))

    with transaction.atomic():
        MomentumSnapshot.objects.filter(week_start__in=wanted).delete()
        MomentumSnapshot.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


def _snapshot(tenant, partner_id, monday, iso, figures, amount, now) -> MomentumSnapshot:
    reps, active = figures["reps"], figures["active_reps"]
    rate = (Decimal(active) / Decimal(reps)).quantize(Decimal("0.0001")) if reps else Decimal(0)
    return MomentumSnapshot(
        tenant_id=tenant.pk,
        partner_id=partner_id,
        week_start=monday,
        iso_year=iso[0],
        iso_week=iso[1],
        activation_rate=rate,
        won_amount=amount,
        computed_at=now,
        **figures,
    )


def momentum_build_current(*, tenant: Tenant, now: dt.datetime | None = None) -> int:
    """The nightly step: rebuild this ISO week and the previous one (late syncs land in
    the week they belong to). Returns the number of rows written."""
    require_scope(tenant)
    this_week = week_start(tenant_today(tenant, now=now))
    mondays = [this_week - dt.timedelta(days=7), this_week]
    return momentum_build(tenant=tenant, mondays=mondays, now=now)


def _segment_weeks_without_run(tenant: Tenant, mondays: list[dt.date], now: dt.datetime) -> int:
    """Run the segmentation as of the end of every week (oldest first) that has no
    succeeded run inside it, so each week's keyman counts come from that week's data.
    The current week's run is as of ``now``. Returns how many runs were made."""
    from segmentation.services.runs import segmentation_run

    covered = {
        week_start(local_date(tenant, as_of))
        for as_of in SegmentationRun.objects.filter(
            status=SegmentationRun.Status.SUCCEEDED
        ).values_list("as_of", flat=True)
    }
    made = 0
    for monday in sorted(mondays):
        if monday in covered:
            continue
        week_end = day_start(tenant, monday + dt.timedelta(days=7))
        as_of = min(week_end - dt.timedelta(microseconds=1), now)
        run = segmentation_run(tenant=tenant, as_of=as_of, trigger=SegmentationRun.Trigger.COMMAND)
        made += run.status == SegmentationRun.Status.SUCCEEDED
    return made


def momentum_backfill(
    *, tenant: Tenant, weeks: int, segment_weeks: bool = True, now: dt.datetime | None = None
) -> int:
    """Rebuild the last ``weeks`` ISO weeks (this one included) from stored views and deals.

    With ``segment_weeks``, a week with no succeeded segmentation run inside it first gets
    one as of its end (as of ``now`` for this week), so past keyman counts reflect the data
    of their week. Quick-win outcomes are recomputed next, then ``momentum_build`` (the
    nightly's own code path) writes the weeks. Idempotent. Returns the rows written.
    """
    from support.services.quick_wins import quick_wins_compute

    if weeks < 1:
        raise ValueError("weeks must be at least 1")
    require_scope(tenant)
    now = now or timezone.now()
    this_week = week_start(tenant_today(tenant, now=now))
    mondays = [this_week - dt.timedelta(weeks=i) for i in range(weeks)]
    if segment_weeks:
        _segment_weeks_without_run(tenant, mondays, now)
    quick_wins_compute(tenant=tenant, now=now)
    return momentum_build(tenant=tenant, mondays=mondays, now=now)
