"""``manage.py seed_enablement_demo --tenant S``: hearings, know-how, shares and support
tasks for a demo tenant, on top of ``seed_demo``'s partners, reps, views and deals; then
the deal-signal rules read the recent views (``seed_demo`` writes them without the
ingestion service, which would have queued that), so the signals inbox has the bursts.

Deterministic (reps are picked by segment score and id; dates are relative to today in the
tenant's time zone) and idempotent: a tenant that already has hearings or support tasks is
left as it is. Everything is written through the services, so the rules, the status log
and the quick-win outcomes are the product's own.
"""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from deal_signals.models import DealSignal
from knowhow.models import Hearing
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

# (kind, status path, days ago the task was created, days ago each move happened)
TASKS = [
    (SupportTask.Kind.ACCOMPANY, ["in_progress", "done"], 50, [45, 20]),
    (SupportTask.Kind.PROPOSAL_REVIEW, ["in_progress", "done"], 40, [38, 10]),
    (SupportTask.Kind.DEAL_STRATEGY, ["in_progress"], 21, [18]),
    (SupportTask.Kind.PRODUCT_TRAINING, ["in_progress"], 9, [7]),
    (SupportTask.Kind.MATERIALS, [], 2, []),
    (SupportTask.Kind.OTHER, ["cancelled"], 30, [25]),
]


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

        with transaction.atomic():
            hearings = [
                hearing_create(
                    tenant=tenant,
                    rep=segment.rep,
                    held_by=staff[i % len(staff)],
                    held_on=today - dt.timedelta(days=30 - 7 * i),
                    **HEARINGS[i],
                )
                for i, segment in enumerate(sources)
            ]
            partners = list(Partner.objects.order_by("pk")[: 2 * len(KNOW_HOW)])
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
                know_hows += 1
                for k, partner in enumerate(partners[i :: len(KNOW_HOW)][:2]):
                    know_how_share(
                        tenant=tenant,
                        know_how=know_how,
                        partner=partner,
                        shared_by=manager,
                        shared_on=today - dt.timedelta(days=14 - 3 * k - i),
                    )
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
                f"{shares} shares, {min(len(motivated), len(TASKS))} support tasks; the "
                f"recent views of {evaluated} reps went to the deal-signal rules "
                f"({DealSignal.objects.filter(status=DealSignal.Status.NEW).count()} open "
                "signals now)."
            )
        )
