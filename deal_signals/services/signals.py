"""Deal signals: evaluate the reps whose views just arrived, and handle the signals raised.

Evaluation is set-based. On PostgreSQL one statement finds every rule's hits for the whole
batch of reps and stores the signals with their views (``signals_sql``: window functions
over the reps' recent views). Elsewhere (SQLite, the demo) a fixed handful of queries per
chunk of ``EVALUATION_CHUNK`` reps (views, claimed views, open signals, first views,
segments, open deals) read the views and the windows are found in memory. Either way a
10,000-view batch costs the same few round trips as a 10-view one, and the two paths
raise the same signals (``tests/deal_signals/test_signals_sql.py``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.db.models import Min, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from activities.models import Deal, Material, MaterialView
from deal_signals.models import (
    MAX_WINDOW_HOURS,
    DealSignal,
    DealSignalView,
    SignalEvaluationBacklog,
    SignalKind,
    SignalRule,
)
from deal_signals.services.rows import rows_insert
from deal_signals.services.signals_sql import signals_raise
from pse_crm import roles
from pse_crm.models import Membership, Tenant
from pse_crm.tasks import send_task
from pse_crm.tenancy import tenant_scope
from segmentation.models import Quadrant, RepSegment, Tier
from support.models import SupportTask

log = logging.getLogger(__name__)

# Enqueued by name: a service never imports a tasks module.
EVALUATE_TASK = "deal_signals.tasks.deal_signals_evaluate"

# Reps per round of queries: keeps every IN (...) list well under SQLite's variable limit.
EVALUATION_CHUNK = 2000
MAX_EXPIRY_DAYS = 365


# --- rules ----------------------------------------------------------------------------


def signal_rules_ensure(*, tenant: Tenant) -> dict[str, SignalRule]:
    """Every kind's rule for ``tenant``, creating the missing ones from the defaults.

    Guarantees one rule per kind (concurrent callers converge on the same rows). Called
    when a tenant is created (deal_signals.receivers) and before a rule is written; reads
    use ``deal_signals.selectors.signal_rules_get``, which never writes.
    """
    existing = {r.kind: r for r in SignalRule.objects.all()}
    missing = [
        SignalRule(tenant=tenant, kind=kind, **SignalRule.DEFAULTS[kind])
        for kind in SignalKind.values
        if kind not in existing
    ]
    if missing:
        SignalRule.objects.bulk_create(missing, ignore_conflicts=True)
        existing = {r.kind: r for r in SignalRule.objects.all()}
    return existing


def signal_rule_validate(
    *,
    kind: str,
    threshold: int,
    window_hours: int,
    material_kinds: Sequence[str],
    expiry_days: int,
) -> None:
    """Raise ``ValidationError`` (by field) unless the values make a usable rule."""
    errors: dict[str, list[str]] = {}
    if threshold is None or threshold < 1:
        errors["threshold"] = [_("At least one view is needed.")]
    if window_hours is None or window_hours < 1:
        errors["window_hours"] = [_("The window must be at least one hour.")]
    elif window_hours > MAX_WINDOW_HOURS:
        errors["window_hours"] = [_("The window may not exceed 30 days (720 hours).")]
    if expiry_days is None or expiry_days < 1 or expiry_days > MAX_EXPIRY_DAYS:
        errors["expiry_days"] = [_("A signal stays open between 1 and 365 days.")]
    unknown = sorted(set(material_kinds or ()) - set(Material.Kind.values))
    if unknown:
        errors["material_kinds"] = [
            _("Unknown material kind: %(kinds)s.") % {"kinds": ", ".join(map(str, unknown))}
        ]
    elif kind == SignalKind.LATE_STAGE and not material_kinds:
        errors["material_kinds"] = [_("Name at least one late-stage material kind.")]
    if errors:
        raise ValidationError(errors)


def signal_rule_update(
    *,
    rule: SignalRule,
    is_enabled: bool | None = None,
    threshold: int | None = None,
    window_hours: int | None = None,
    material_kinds: Sequence[str] | None = None,
    expiry_days: int | None = None,
) -> SignalRule:
    """Change a rule; only the given values change. Invalid values raise and save nothing.

    ``first_view`` keeps a threshold of one (a first view is one view); only
    ``late_stage`` keeps material kinds.
    """
    values = {
        "threshold": rule.threshold if threshold is None else threshold,
        "window_hours": rule.window_hours if window_hours is None else window_hours,
        "material_kinds": list(rule.material_kinds if material_kinds is None else material_kinds),
        "expiry_days": rule.expiry_days if expiry_days is None else expiry_days,
    }
    if rule.kind == SignalKind.FIRST_VIEW:
        values["threshold"] = 1
    signal_rule_validate(kind=rule.kind, **values)
    if rule.kind != SignalKind.LATE_STAGE:
        values["material_kinds"] = []  # only late-stage signals look at the material kind
    for name, value in values.items():
        setattr(rule, name, value)
    if is_enabled is not None:
        rule.is_enabled = is_enabled
    rule.save()
    return rule


# --- evaluation -----------------------------------------------------------------------


@dataclass(frozen=True)
class _View:
    pk: int
    rep_id: int
    partner_id: int
    viewed_at: dt.datetime
    material_kind: str


@dataclass
class _Hit:
    rep_id: int
    partner_id: int
    kind: str
    views: list[_View]


def _latest_window(views: list[_View], *, threshold: int, hours: int) -> list[_View] | None:
    """The most recent run of ``threshold`` or more views spanning at most ``hours``.

    ``views`` is sorted by time. Returns every view of that run, or None.
    """
    if len(views) < threshold:
        return None
    span = dt.timedelta(hours=hours)
    best: tuple[int, int] | None = None
    start = 0
    for end, view in enumerate(views):
        while view.viewed_at - views[start].viewed_at > span:
            start += 1
        if end - start + 1 >= threshold:
            best = (start, end)
    if best is None:
        return None
    return views[best[0] : best[1] + 1]


def _dormant_or_bottom_rep_ids(rep_ids: Sequence[int]) -> set[int]:
    """Reps whose segment in the current segmentation run is dormant or bottom-tier.

    Before the first run no rep has a segment, so the rule raises nothing yet.
    """
    return set(
        RepSegment.objects.filter(run__is_current=True, rep_id__in=rep_ids)
        .filter(Q(quadrant=Quadrant.DORMANT) | Q(tier=Tier.BOTTOM))
        .values_list("rep_id", flat=True)
    )


def _hits_for_chunk(
    *, rep_ids: Sequence[int], rules: dict[str, SignalRule], now: dt.datetime
) -> list[_Hit]:
    horizon = now - dt.timedelta(
        days=max(r.expiry_days for r in rules.values()),
        hours=max(r.window_hours for r in rules.values()),
    )
    rows = (
        MaterialView.objects.filter(rep_id__in=rep_ids, viewed_at__gte=horizon)
        .order_by("rep_id", "viewed_at", "pk")
        .values_list("pk", "rep_id", "rep__partner_id", "viewed_at", "material__kind")
    )
    by_rep: dict[int, list[_View]] = defaultdict(list)
    for pk, rep_id, partner_id, viewed_at, material_kind in rows:
        by_rep[rep_id].append(_View(pk, rep_id, partner_id, viewed_at, material_kind))
    if not by_rep:
        return []
    reps = list(by_rep)
    claimed: set[tuple[str, int]] = {
        (kind, view_id)
        for view_id, kind in DealSignalView.objects.filter(
            view__rep_id__in=reps, view__viewed_at__gte=horizon
        ).values_list("view_id", "kind")
    }
    open_signals = set(
        DealSignal.objects.filter(rep_id__in=reps, status=DealSignal.Status.NEW).values_list(
            "rep_id", "kind"
        )
    )
    first_view_reps: set[int] = set()
    if SignalKind.FIRST_VIEW in rules:
        fresh = now - dt.timedelta(days=rules[SignalKind.FIRST_VIEW].expiry_days)
        already = set(
            DealSignal.objects.filter(rep_id__in=reps, kind=SignalKind.FIRST_VIEW).values_list(
                "rep_id", flat=True
            )
        )
        first_view_reps = {
            rep_id
            for rep_id, first in MaterialView.objects.filter(rep_id__in=reps)
            .values("rep_id")
            .annotate(first=Min("viewed_at"))
            .values_list("rep_id", "first")
            if first >= fresh and rep_id not in already
        }
    quiet_reps: set[int] = set()
    if SignalKind.REACTIVATION in rules:
        quiet_reps = _dormant_or_bottom_rep_ids(reps)

    hits: list[_Hit] = []
    for rep_id, views in by_rep.items():
        partner_id = views[0].partner_id
        for kind, rule in rules.items():
            if (rep_id, kind) in open_signals:
                continue
            fresh = now - dt.timedelta(days=rule.expiry_days)
            if kind == SignalKind.FIRST_VIEW:
                if rep_id in first_view_reps and (kind, views[0].pk) not in claimed:
                    hits.append(_Hit(rep_id, partner_id, kind, [views[0]]))
                continue
            if kind == SignalKind.REACTIVATION and rep_id not in quiet_reps:
                continue
            kinds = set(rule.material_kinds) if kind == SignalKind.LATE_STAGE else None
            candidates = [
                v
                for v in views
                if (kind, v.pk) not in claimed
                and (kinds is None or v.material_kind in kinds)
                and v.viewed_at <= now
            ]
            window = _latest_window(candidates, threshold=rule.threshold, hours=rule.window_hours)
            if window is not None and window[-1].viewed_at >= fresh:
                hits.append(_Hit(rep_id, partner_id, kind, window))
    return hits


def _chunks(values: Sequence[int], size: int) -> Iterable[Sequence[int]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def deal_signals_expire(*, tenant: Tenant, now: dt.datetime | None = None) -> int:
    """Mark the tenant's open signals past their expiry as expired. Returns how many."""
    now = now or timezone.now()
    return DealSignal.objects.filter(
        tenant=tenant, status=DealSignal.Status.NEW, expires_at__lte=now
    ).update(status=DealSignal.Status.EXPIRED)


def deal_signals_evaluate(
    *, tenant: Tenant, rep_ids: Iterable[int], now: dt.datetime | None = None
) -> list[DealSignal]:
    """Raise the signals the enabled rules find in the views of ``rep_ids``; notify.

    Guarantees:
    * only the given reps are looked at, with a fixed number of queries (on PostgreSQL,
      one statement finds and stores the signals; elsewhere a few queries per 2,000 reps);
    * a view raises each kind of signal at most once, so replayed views or a repeated
      evaluation raise nothing new;
    * a rep with an open (``new``, unexpired) signal of a kind gets no second one of it;
    * only activity newer than the rule's expiry raises a signal (a backfill of old views
      does not flood the inbox);
    * evaluations of one tenant run one at a time (a row lock on the tenant).

    Returns the signals created, each with ``has_open_deal`` set from the rep's deals.
    """
    from deal_signals.services.notifications import notifications_for_signals

    now = now or timezone.now()
    rep_ids = sorted({int(r) for r in rep_ids})
    with transaction.atomic():
        # Serialise evaluations of this tenant: two workers must not both raise a signal.
        Tenant.objects.select_for_update().filter(pk=tenant.pk).values_list("pk").first()
        rules = {
            kind: rule
            for kind, rule in signal_rules_ensure(tenant=tenant).items()
            if rule.is_enabled
        }
        if not rules or not rep_ids:
            return []
        deal_signals_expire(tenant=tenant, now=now)
        if connection.vendor == "postgresql":
            # One statement finds and stores every signal (signals_sql says how).
            created = signals_raise(tenant=tenant, rep_ids=rep_ids, rules=rules, now=now)
        else:
            created = _evaluate_in_python(tenant=tenant, rep_ids=rep_ids, rules=rules, now=now)
        if created:
            notifications_for_signals(tenant=tenant, signals=created)
    return created


def _evaluate_in_python(
    *, tenant: Tenant, rep_ids: Sequence[int], rules: dict[str, SignalRule], now: dt.datetime
) -> list[DealSignal]:
    """The evaluation on other databases (SQLite, the demo): a fixed handful of queries
    per chunk of reps, the windows found in memory."""
    created: list[DealSignal] = []
    for chunk in _chunks(rep_ids, EVALUATION_CHUNK):
        hits = _hits_for_chunk(rep_ids=chunk, rules=rules, now=now)
        if hits:
            created.extend(_store_hits(tenant=tenant, hits=hits, rules=rules, now=now))
    return created


def deal_signals_queue(*, tenant_id: int, rep_ids: Sequence[int]) -> bool:
    """Queue the deal-signal check of ``rep_ids`` (after their views were stored).

    Guarantees: never raises for a down queue. When the queue cannot be reached the reps
    are written to the tenant's backlog instead, which the hourly sweep replays
    (``deal_signals_backlog_replay``); returns whether the check was queued now.
    """
    ids = sorted(set(rep_ids))
    if not ids:
        return True
    if send_task(EVALUATE_TASK, tenant_id, ids) is not None:
        return True
    try:
        with tenant_scope(Tenant.objects.get(pk=tenant_id)):
            SignalEvaluationBacklog.objects.create(tenant_id=tenant_id, rep_ids=ids)
    except DatabaseError:
        # The views are stored already: their caller must not fail now. "Evaluate recent
        # views again" on the rules page catches up by hand.
        log.exception("deal-signal check of %d reps of tenant %s lost", len(ids), tenant_id)
    return False


def deal_signals_backlog_replay(*, tenant: Tenant) -> int:
    """Queue the deal-signal check of every rep in the tenant's backlog; returns how many
    reps were queued.

    Guarantees: a backlog row is deleted only once its check is in the queue; while the
    queue is still down nothing changes and the next sweep tries again. Checking a rep
    twice is harmless (a view raises a signal once).
    """
    rows = list(SignalEvaluationBacklog.objects.filter(tenant=tenant).values_list("pk", "rep_ids"))
    if not rows:
        return 0
    rep_ids = sorted({rep_id for _pk, ids in rows for rep_id in ids})
    if send_task(EVALUATE_TASK, tenant.pk, rep_ids) is None:
        return 0
    SignalEvaluationBacklog.objects.filter(tenant=tenant, pk__in=[pk for pk, _ids in rows]).delete()
    return len(rep_ids)


def deal_signals_sweep(*, tenant: Tenant, now: dt.datetime | None = None) -> int:
    """The hourly upkeep of one tenant's signals: queue the checks that waited for the
    queue (``deal_signals_backlog_replay``), then expire stale signals. Returns how many
    signals expired."""
    deal_signals_backlog_replay(tenant=tenant)
    return deal_signals_expire(tenant=tenant, now=now)


def deal_signals_reevaluate_recent(*, tenant: Tenant, now: dt.datetime | None = None) -> int:
    """Queue an evaluation of every rep with a view recent enough to raise a signal.

    For after a rule changed, or data arrived without the ingestion service (a restore, a
    seed). Idempotent like any evaluation: views that raised a signal raise nothing again.
    Returns how many reps were queued (one query to find them, one task for all).
    """
    from pse_crm.tasks import enqueue_on_commit

    now = now or timezone.now()
    rules = signal_rules_ensure(tenant=tenant).values()
    since = now - dt.timedelta(
        days=max(r.expiry_days for r in rules), hours=max(r.window_hours for r in rules)
    )
    rep_ids = sorted(
        MaterialView.objects.filter(viewed_at__gte=since)
        .order_by()
        .values_list("rep_id", flat=True)
        .distinct()
    )
    if rep_ids:
        enqueue_on_commit(EVALUATE_TASK, tenant.pk, rep_ids)
    return len(rep_ids)


def _store_hits(
    *, tenant: Tenant, hits: list[_Hit], rules: dict[str, SignalRule], now: dt.datetime
) -> list[DealSignal]:
    with_open_deal = set(
        Deal.objects.filter(
            rep_id__in={h.rep_id for h in hits}, is_closed=False, is_deleted=False
        ).values_list("rep_id", flat=True)
    )
    signals = [
        DealSignal(
            tenant=tenant,
            rep_id=h.rep_id,
            partner_id=h.partner_id,
            kind=h.kind,
            view_count=len(h.views),
            first_viewed_at=h.views[0].viewed_at,
            last_viewed_at=h.views[-1].viewed_at,
            has_open_deal=h.rep_id in with_open_deal,
            expires_at=min(h.views[-1].viewed_at, now)
            + dt.timedelta(days=rules[h.kind].expiry_days),
        )
        for h in hits
    ]
    rows_insert(model=DealSignal, objs=signals)  # one statement for any number
    links = [(s.pk, v.pk, s.kind) for s, h in zip(signals, hits, strict=True) for v in h.views]
    if connection.vendor == "postgresql":
        # One statement for any number of links; the tenant is set explicitly (raw SQL is
        # not scoped by the manager).
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {DealSignalView._meta.db_table} (tenant_id, signal_id, view_id, kind)"
                " SELECT %s, s, v, k FROM unnest(%s::bigint[], %s::bigint[], %s::text[])"
                " AS t(s, v, k)",
                [tenant.pk, *map(list, zip(*links, strict=True))],
            )
    else:
        DealSignalView.objects.bulk_create(
            [DealSignalView(tenant=tenant, signal_id=s, view_id=v, kind=k) for s, v, k in links],
            batch_size=500,
        )
    return signals


# --- handling a signal ----------------------------------------------------------------


def _lock_open(signal: DealSignal) -> DealSignal:
    locked = DealSignal.objects.select_for_update().get(pk=signal.pk)
    if locked.status != DealSignal.Status.NEW:
        raise ValidationError(
            {
                "status": [
                    _("This signal was already handled (%(status)s).")
                    % {"status": locked.get_status_display()}
                ]
            }
        )
    return locked


def _mark_handled(locked: DealSignal, status: str, user, **fields) -> None:
    """Close the locked, open signal as ``status`` by ``user`` now, with ``fields`` set."""
    for name, value in fields.items():
        setattr(locked, name, value)
    locked.status = status
    locked.handled_at = timezone.now()
    locked.handled_by = user
    locked.save(update_fields=["status", *fields, "handled_at", "handled_by"])


def deal_signal_dismiss(*, signal: DealSignal, user, reason: str) -> DealSignal:
    """Dismiss an open signal with a reason (required). Raises if it is not open."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"dismiss_reason": [_("Say why the signal is dismissed.")]})
    with transaction.atomic():
        locked = _lock_open(signal)
        _mark_handled(locked, DealSignal.Status.DISMISSED, user, dismiss_reason=reason)
    return locked


def deal_signal_create_task(
    *,
    signal: DealSignal,
    user,
    assignee=None,
    kind: str = SupportTask.Kind.MATERIALS,
    due_on: dt.date | None = None,
) -> SupportTask:
    """Create a support task for the signal's rep, with its materials named, and link it.

    The signal becomes ``acted``. The task goes to ``assignee`` (default: the partner's
    owner, else ``user``) and is due in two working days unless ``due_on`` is given.
    Raises ``ValidationError`` if the signal is not open.
    """
    from support.services.support_tasks import support_task_create

    with transaction.atomic():
        locked = _lock_open(signal)
        titles = list(
            Material.objects.filter(views__deal_signals=locked)
            .order_by("title")
            .values_list("title", flat=True)
            .distinct()
        )
        if assignee is None:
            assignee = _default_assignee(signal=locked, user=user)
        if due_on is None:
            due_on = _working_days_after(timezone.localdate(timezone=locked.tenant.tzinfo), 2)
        rep = locked.rep
        description = "\n".join(
            [
                _("Raised by the deal signal “%(kind)s” (%(label)s) on %(date)s.")
                % {
                    "kind": locked.get_kind_display(),
                    "label": locked.label,
                    "date": timezone.localtime(locked.created_at).strftime("%Y-%m-%d %H:%M"),
                },
                _("Materials viewed:"),
                *(f"- {t}" for t in titles),
            ]
        )
        task = support_task_create(
            tenant=locked.tenant,
            rep=rep,
            kind=kind,
            assignee=assignee,
            assigned_by=user,
            due_on=due_on,
            title=_("Support %(rep)s: %(kind)s")
            % {"rep": rep.name, "kind": locked.get_kind_display()},
            description=description,
        )
        _mark_handled(locked, DealSignal.Status.ACTED, user, support_task=task)
    return task


def _default_assignee(*, signal: DealSignal, user):
    """The partner's owner when they may work support tasks here, else the acting user."""
    owner_id = signal.partner.owner_id
    if (
        owner_id is not None
        and Membership.objects.active()
        .filter(user_id=owner_id, role__in=roles.WRITE_ENABLEMENT)
        .exists()
    ):
        return signal.partner.owner
    return user


def _working_days_after(day: dt.date, days: int) -> dt.date:
    while days:
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            days -= 1
    return day
