"""``manage.py seed_enablement_demo --tenant S``: hearings, know-how, shares and support
tasks for a demo tenant, on top of ``seed_demo``'s partners, reps, views and deals; then
the deal-signal rules read the recent views (``seed_demo`` writes them without the
ingestion service, which would have queued that), so the signals inbox has the bursts.

Deterministic (reps are picked by segment score and id; dates are relative to today in the
tenant's time zone) and idempotent: a tenant that already has hearings or support tasks is
left as it is. Everything is written through the services, so the rules, the status log
and the quick-win outcomes are the product's own.

The shares are old enough for the know-how effect (``measure_know_how_effect``) to be
measured: 40 to 120 days back, so their 30 days after have passed, with every other
partner by pk reached and the rest left as the comparison group. A share day without a
succeeded segmentation run in the 7 days up to it gets one as of the start of that day
(the quadrant and tier the effect matches on; a past run never becomes current). The
hearings and know-how are dated before their shares (``created_at`` backdated: a demo
tool's licence; the product's own writes always stamp now). The demo's data has no
planted effect, so the measured differences are noise around zero.
"""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from deal_signals.models import DealSignal
from knowhow.models import Hearing, KnowHow, KnowHowShare
from partners.models import Partner
from pse_crm import roles
from pse_crm.calendar import day_start, tenant_today
from pse_crm.management.tenants import tenant_from_slug
from pse_crm.models import Membership
from pse_crm.tenancy import tenant_scope
from segmentation.models import Quadrant, RepSegment, SegmentationRun
from support.models import SupportTask

HEARINGS = [
    {
        "finding_customers": "顧客の保守契約の更新月を一覧にして、3か月前に声をかける。",
        "sales_approach": "更新の相談から入り、運用コストの比較表で切り替えを提案する。",
        "materials_used": "導入事例（製造業）、TCO 比較シート",
        "objections": "「今のままで困っていない」→ 更新時の値上げ額を先に試算して見せる。",
        "tags": ["更新提案", "TCO"],
    },
    {
        "finding_customers": "Watches job postings of customers hiring IT staff: a sign of a project.",
        "sales_approach": "Offers a 30-minute demo with the vendor's engineer in the first call.",
        "materials_used": "Product deck v3, 2-minute demo video",
        "objections": "Price → show the per-user monthly cost against one hour of overtime.",
        "tags": ["demo", "hiring signal"],
    },
    {
        "finding_customers": "既存顧客の定例会で、来期の予算化の話題が出たら候補にする。",
        "sales_approach": "予算申請用の稟議テンプレートを一緒に作る。",
        "materials_used": "見積テンプレート、稟議書サンプル",
        "objections": "「稟議が通らない」→ 効果試算を稟議書の形で渡す。",
        "tags": ["予算化", "稟議"],
    },
]

KNOW_HOW = [
    (
        "保守更新の3か月前アプローチ",
        "更新月の一覧を作り、3か月前に TCO 比較を持って訪問する。値上げ額の試算を先に見せる。",
        ["更新提案"],
        [0],
    ),
    (
        "Demo with the engineer on the first call",
        "Book the vendor engineer for a 30-minute demo in the first meeting; bring the video.",
        ["demo"],
        [1],
    ),
    (
        "稟議書テンプレートで予算化を支援",
        "来期予算の話題が出たら、稟議書の形の効果試算を一緒に作る。",
        ["予算化"],
        [2, 0],
    ),
]

# Days ago: each hearing was held; each know-how was written; each know-how's shares (one
# day per partner it goes to). Old enough that 30 days after every share have passed.
HEARING_DAYS = [150, 136, 122]
KNOW_HOW_DAYS = [123, 108, 93]
SHARE_DAYS = [[120, 75], [105, 60], [90, 40]]
# A share day needs a succeeded segmentation run this many days before it at most.
RUN_WITHIN_DAYS = 7

# (kind, status path, days ago the task was created, days ago each move happened)
TASKS = [
    (SupportTask.Kind.ACCOMPANY, ["in_progress", "done"], 50, [45, 20]),
    (SupportTask.Kind.PROPOSAL_REVIEW, ["in_progress", "done"], 40, [38, 10]),
    (SupportTask.Kind.DEAL_STRATEGY, ["in_progress"], 21, [18]),
    (SupportTask.Kind.PRODUCT_TRAINING, ["in_progress"], 9, [7]),
    (SupportTask.Kind.MATERIALS, [], 2, []),
    (SupportTask.Kind.OTHER, ["cancelled"], 30, [25]),
]


def _backdate(model, pk: int, moment: dt.datetime) -> None:
    """Date a seeded row at ``moment`` (``created_at`` is stamped now on create)."""
    names = {f.name for f in model._meta.get_fields()}
    stamps = {name: moment for name in ("created_at", "updated_at") if name in names}
    model.objects.filter(pk=pk).update(**stamps)


class Command(BaseCommand):
    help = (
        "Seed a demo tenant's hearings, know-how, shares and support tasks (after seed_demo), "
        "then evaluate the recent views for deal signals. Running it again changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="The tenant's slug.")

    def handle(self, *args, tenant: str, **options):
        found = tenant_from_slug(tenant)
        with tenant_scope(found):
            if Hearing.objects.exists() or SupportTask.objects.exists():
                self.stdout.write(f"'{tenant}' already has enablement data; nothing changed.")
                return
            self._seed(found)

    def _members(self):
        members = list(
            Membership.objects.active()
            .filter(role__in=roles.WRITE_ENABLEMENT)
            .select_related("user")
            .order_by("pk")
        )
        if not members:
            raise CommandError("The tenant needs a staff member, manager or owner first.")
        staff = [m.user for m in members if m.role == roles.Role.STAFF] or [members[0].user]
        managers = [m.user for m in members if m.role in roles.MANAGE] or [members[0].user]
        return staff, managers[0]

    def _segments(self, tenant):
        from segmentation.services.runs import segmentation_run

        if not SegmentationRun.objects.filter(is_current=True).exists():
            segmentation_run(tenant=tenant, trigger=SegmentationRun.Trigger.COMMAND)
        current = RepSegment.objects.filter(run__is_current=True, rep__is_employed=True)
        order = ("-score", "rep_id")
        sources = list(
            current.filter(quadrant__in=[Quadrant.PERFORMER, Quadrant.INDEPENDENT])
            .select_related("rep", "partner")
            .order_by(*order)[: len(HEARINGS)]
        )
        motivated = list(
            current.filter(quadrant=Quadrant.MOTIVATED)
            .select_related("rep", "partner")
            .order_by(*order)[: len(TASKS)]
        )
        if not sources or not motivated:
            raise CommandError("No performers or motivated reps: run seed_demo first.")
        return sources, motivated

    def _share_plan(self) -> list[list[tuple[Partner, int]]]:
        """Per know-how, the partners it goes to and the days ago of each share.

        Every other partner by pk is reached (``partners[0::2]``: the largest, first by pk,
        among them) and the others never are, so the effect has reps to compare with.
        Know-how i goes to ``reached[i::3][:2]``; with fewer than three reached partners it
        still goes to one (some partner reached twice).
        """
        reached = list(Partner.objects.order_by("pk"))[0::2]
        if not reached:
            return [[] for _ in KNOW_HOW]
        plan = []
        for i in range(len(KNOW_HOW)):
            targets = reached[i :: len(KNOW_HOW)][:2] or [reached[i % len(reached)]]
            plan.append(list(zip(targets, SHARE_DAYS[i], strict=False)))
        return plan

    def _segment_share_days(self, tenant, today: dt.date, days_ago: set[int]) -> int:
        """A segmentation run as of the start of every share day (oldest first) that has
        no succeeded run in the ``RUN_WITHIN_DAYS`` days up to it: the effect matches on
        the quadrant and tier of the last run on or before the share. After the current
        run, so these past runs stay history (the newest run stays current). Returns how
        many runs were made."""
        from segmentation.services.runs import segmentation_run

        succeeded = SegmentationRun.objects.filter(status=SegmentationRun.Status.SUCCEEDED)
        run_days = set(succeeded.values_list("as_of_date", flat=True))
        made = 0
        for ago in sorted(days_ago, reverse=True):
            day = today - dt.timedelta(days=ago)
            if any(day - dt.timedelta(days=RUN_WITHIN_DAYS) <= d <= day for d in run_days):
                continue
            run = segmentation_run(
                tenant=tenant, as_of=day_start(tenant, day), trigger=SegmentationRun.Trigger.COMMAND
            )
            if run.status != SegmentationRun.Status.SUCCEEDED:
                raise CommandError(f"The segmentation run as of {day} failed: {run.error}")
            run_days.add(day)
            made += 1
        return made

    def _seed(self, tenant):
        from deal_signals.services.signals import deal_signals_reevaluate_recent
        from knowhow.services import hearing_create, know_how_create, know_how_share
        from support.services.quick_wins import quick_wins_compute
        from support.services.support_tasks import (
            support_task_comment_add,
            support_task_create,
            support_task_transition,
        )

        staff, manager = self._members()
        sources, motivated = self._segments(tenant)
        today = tenant_today(tenant)

        def moment(days_ago: int) -> dt.datetime:
            return day_start(tenant, today - dt.timedelta(days=days_ago)) + dt.timedelta(hours=10)

        plan = self._share_plan()
        runs = self._segment_share_days(tenant, today, {d for shares in plan for _, d in shares})

        with transaction.atomic():
            hearings = [
                hearing_create(
                    tenant=tenant,
                    rep=segment.rep,
                    held_by=staff[i % len(staff)],
                    held_on=today - dt.timedelta(days=HEARING_DAYS[i]),
                    **HEARINGS[i],
                )
                for i, segment in enumerate(sources)
            ]
            for i, hearing in enumerate(hearings):
                _backdate(Hearing, hearing.pk, moment(HEARING_DAYS[i]))
            shares = know_hows = 0
            for i, (title, body, tags, sources_idx) in enumerate(KNOW_HOW):
                used = [hearings[j] for j in sources_idx if j < len(hearings)]
                if not used:
                    continue
                know_how = know_how_create(
                    tenant=tenant,
                    title=title,
                    body=body,
                    hearings=used,
                    created_by=manager,
                    tags=tags,
                )
                _backdate(KnowHow, know_how.pk, moment(KNOW_HOW_DAYS[i]))
                know_hows += 1
                for partner, days_ago in plan[i]:
                    share = know_how_share(
                        tenant=tenant,
                        know_how=know_how,
                        partner=partner,
                        shared_by=manager,
                        shared_on=today - dt.timedelta(days=days_ago),
                    )
                    _backdate(KnowHowShare, share.pk, moment(days_ago))
                    shares += 1
            for segment, (kind, path, created_ago, moves) in zip(motivated, TASKS, strict=False):
                assignee = staff[segment.rep_id % len(staff)]
                task = support_task_create(
                    tenant=tenant,
                    rep=segment.rep,
                    kind=kind,
                    assignee=assignee,
                    assigned_by=manager,
                    due_on=today - dt.timedelta(days=created_ago) + dt.timedelta(days=14),
                    title=f"{segment.rep.name}: {SupportTask.Kind(kind).label}",
                    now=moment(created_ago),
                )
                for status, ago in zip(path, moves, strict=True):
                    support_task_transition(
                        task=task,
                        to_status=status,
                        by=assignee,
                        outcome_notes="商談に同行し、次回提案の日程を確定。"
                        if status == "done"
                        else None,
                        now=moment(ago),
                    )
                if path:
                    support_task_comment_add(
                        task=task, author=manager, body="Keep me posted after the meeting."
                    )
            quick_wins_compute(tenant=tenant)
            # After the segments (the reactivation rule reads them); the check runs on
            # commit: in-process without a broker, else on the worker's ingest queue.
            evaluated = deal_signals_reevaluate_recent(tenant=tenant)
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded '{tenant.slug}': {len(hearings)} hearings, {know_hows} know-how, "
                f"{shares} shares ({runs} segmentation runs as of share days), "
                f"{min(len(motivated), len(TASKS))} support tasks; the "
                f"recent views of {evaluated} reps went to the deal-signal rules "
                f"({DealSignal.objects.filter(status=DealSignal.Status.NEW).count()} open "
                "signals now)."
            )
        )
