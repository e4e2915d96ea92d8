"""Support-task reads: who may do what with a task, the task list, and suggested targets."""

from __future__ import annotations

from django.db.models import Case, Exists, IntegerField, OuterRef, Q, QuerySet, Value, When

from pse_crm import roles
from segmentation.models import Quadrant, RepSegment
from segmentation.selectors import rep_segments_of_partner
from support.models import SupportTask


def support_task_can_manage(*, role: str | None) -> bool:
    """Create, assign, reassign and edit any task: managers and owners."""
    return roles.role_allows(role, roles.MANAGE)


def support_task_can_work(*, task: SupportTask, user, role: str | None) -> bool:
    """Move a task through its statuses and write its outcome: managers and owners on any
    task, staff on the tasks assigned to them."""
    if support_task_can_manage(role=role):
        return True
    return roles.role_allows(role, roles.WRITE_ENABLEMENT) and task.assignee_id == getattr(
        user, "pk", None
    )


def support_task_list(
    *,
    assignee_id: int | None = None,
    status: str | None = None,
    partner_id: int | None = None,
    rep_id: int | None = None,
) -> QuerySet[SupportTask]:
    """The tenant's tasks, filtered; related rows joined for display."""
    qs = SupportTask.objects.select_related("rep", "rep__partner", "assignee", "assigned_by")
    if assignee_id is not None:
        qs = qs.filter(assignee_id=assignee_id)
    if status:
        qs = qs.filter(status=status)
    if partner_id is not None:
        qs = qs.filter(rep__partner_id=partner_id)
    if rep_id is not None:
        qs = qs.filter(rep_id=rep_id)
    return qs


def support_task_suggestions(
    *, partner_id: int | None = None, limit: int | None = None
) -> QuerySet[RepSegment]:
    """Suggested targets for sales support: motivated reps (keyman ②) of the current
    segmentation run who are still employed and have no open or in-progress task.

    Order: newest movers first (reps who moved into motivated in this run), then reps new
    to segmentation, then reps who were motivated already; by score inside each group.
    One query; empty when the tenant has no current run.
    """
    open_task = SupportTask.objects.filter(
        rep_id=OuterRef("rep_id"), status__in=SupportTask.OPEN_STATUSES
    )
    qs = (
        RepSegment.objects.filter(
            run__is_current=True, quadrant=Quadrant.MOTIVATED, rep__is_employed=True
        )
        .exclude(Exists(open_task))
        .select_related("rep", "partner", "run")
        .annotate(
            mover_rank=Case(
                When(
                    Q(previous_quadrant__isnull=False) & ~Q(previous_quadrant=Quadrant.MOTIVATED),
                    then=Value(0),
                ),
                When(previous_quadrant__isnull=True, then=Value(1)),
                default=Value(2),
                output_field=IntegerField(),
            )
        )
        .order_by("mover_rank", "-score", "rep_id")
    )
    if partner_id is not None:
        qs = rep_segments_of_partner(qs, partner_id=partner_id)
    return qs[:limit] if limit else qs
