"""Sales-support tasks (keyman ②): create, assign, update, move through their statuses,
comment.

Every function validates before it writes and raises ``django.core.exceptions.
ValidationError`` (a dict of field → messages) with nothing written when the input breaks a
rule. Who may edit a task (managers anything, staff the outcome of their own) is decided
by ``support_task_update`` itself; for creating, moving and commenting the caller checks the
role with ``support.selectors.support_tasks.support_task_can_*``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from activities.models import Deal
from pse_crm import roles
from pse_crm.calendar import tenant_today
from pse_crm.models import Membership, Tenant
from pse_crm.tenancy import require_scope
from reps.models import Rep
from support.models import SupportTask, SupportTaskComment, SupportTaskTransition
from support.selectors.support_tasks import support_task_can_manage, support_task_can_work
from support.services.quick_wins import quick_wins_compute

Status = SupportTask.Status

# Fields a manager may change with support_task_update (status moves go through transition).
MANAGER_FIELDS = frozenset(
    {"kind", "title", "description", "deal", "due_on", "outcome_notes", "assignee"}
)
# Fields the assignee (staff) may change on their own task.
ASSIGNEE_FIELDS = frozenset({"outcome_notes"})


def _check_assignee(
    assignee: AbstractBaseUser | None, tenant: Tenant, errors: dict[str, list[str]]
) -> None:
    ok = (
        assignee is not None
        and Membership.objects.active()
        .filter(tenant=tenant, user=assignee, role__in=roles.WRITE_ENABLEMENT)
        .exists()
    )
    if not ok:
        errors.setdefault("assignee", []).append(
            _("The assignee must be an active staff member, manager or owner of this tenant.")
        )


def _check_rep(rep: Rep | None, tenant: Tenant, errors: dict[str, list[str]]) -> None:
    if rep is None or rep.tenant_id != tenant.pk:
        errors.setdefault("rep", []).append(_("Choose a rep of this tenant."))


def _check_deal(
    deal: Deal | None, rep: Rep | None, tenant: Tenant, errors: dict[str, list[str]]
) -> None:
    if deal is None:
        return
    if deal.tenant_id != tenant.pk:
        errors.setdefault("deal", []).append(_("Choose a deal of this tenant."))
    elif rep is not None and deal.rep_id != rep.pk and deal.partner_id != rep.partner_id:
        errors.setdefault("deal", []).append(_("The deal belongs to another rep's partner."))


def _check_due(due_on: dt.date | None, today: dt.date, errors: dict[str, list[str]]) -> None:
    if due_on is None:
        errors.setdefault("due_on", []).append(_("A due date is required."))
    elif due_on < today:
        errors.setdefault("due_on", []).append(_("The due date cannot be before today."))


def _check_kind(kind: str, errors: dict[str, list[str]]) -> None:
    if kind not in SupportTask.Kind.values:
        errors.setdefault("kind", []).append(_("Unknown task kind."))


def _status_label(value: str) -> str:
    return str(Status(value).label) if value in Status.values else value


def _record(task: SupportTask, *, from_status: str, by, at: dt.datetime) -> None:
    SupportTaskTransition.objects.create(
        tenant_id=task.tenant_id,
        task=task,
        from_status=from_status,
        to_status=task.status,
        changed_by=by,
        changed_at=at,
    )


def support_task_create(
    *,
    tenant: Tenant,
    rep: Rep,
    kind: str,
    assignee: AbstractBaseUser,
    assigned_by: AbstractBaseUser | None,
    due_on: dt.date,
    deal: Deal | None = None,
    title: str = "",
    description: str = "",
    now: dt.datetime | None = None,
) -> SupportTask:
    """Create an open task for ``rep`` assigned to ``assignee``.

    Guarantees: ``tenant`` is the tenant in scope, the rep (and deal) belong to it, the
    assignee is an active staff/manager/owner member of it, the due date is not before today (tenant time zone);
    otherwise ValidationError and nothing is written. The creation is recorded as the
    status change "" → open.
    """
    return support_task_bulk_create(
        tenant=tenant,
        reps=[rep],
        kind=kind,
        assignee=assignee,
        assigned_by=assigned_by,
        due_on=due_on,
        deal=deal,
        title=title,
        description=description,
        now=now,
    )[0]


def support_task_bulk_create(
    *,
    tenant: Tenant,
    reps: Sequence[Rep],
    kind: str,
    assignee: AbstractBaseUser,
    assigned_by: AbstractBaseUser | None,
    due_on: dt.date,
    deal: Deal | None = None,
    title: str = "",
    description: str = "",
    now: dt.datetime | None = None,
) -> list[SupportTask]:
    """Create one open task per rep (the manager's "support these suggested reps").

    All or nothing: every rep is validated first; one bad rep writes no task at all.
    """
    require_scope(tenant)
    now = now or timezone.now()
    errors: dict[str, list[str]] = {}
    if not reps:
        errors["reps"] = [_("Choose at least one rep.")]
    for rep in reps:
        _check_rep(rep, tenant, errors)
    if deal is not None and len(reps) > 1:
        errors.setdefault("deal", []).append(_("A deal can be named for one rep only."))
    elif reps:
        _check_deal(deal, reps[0], tenant, errors)
    _check_kind(kind, errors)
    _check_assignee(assignee, tenant, errors)
    _check_due(due_on, tenant_today(tenant, now=now), errors)
    if errors:
        raise ValidationError({k: sorted(set(v)) for k, v in errors.items()})
    created = []
    with transaction.atomic():
        for rep in dict.fromkeys(reps):
            task = SupportTask.objects.create(
                tenant=tenant,
                rep=rep,
                deal=deal,
                kind=kind,
                title=title,
                description=description,
                assignee=assignee,
                assigned_by=assigned_by,
                due_on=due_on,
                status=Status.OPEN,
            )
            _record(task, from_status="", by=assigned_by, at=now)
            created.append(task)
    return created


def support_task_update(
    *,
    tenant: Tenant,
    task: SupportTask,
    by: AbstractBaseUser | None,
    role: str | None,
    **changes,
) -> SupportTask:
    """Edit a task as ``by``, acting with ``role``: its details and its assignee (status moves
    go through ``support_task_transition``). The API's PATCH and the page's reassignment.

    Guarantees:
    * who may: managers and owners change any field of ``MANAGER_FIELDS``; the assignee
      (staff) only ``ASSIGNEE_FIELDS``, on their own task; anyone else, or staff changing
      another field, gets ``PermissionDenied`` (the message names the fields);
    * a value equal to the current one is no change (sending the task back as it was is
      allowed to everyone who may work it, and writes nothing);
    * the rep never changes; a new due date is not before the task's creation date; a deal
      belongs to the task's rep or partner; a new assignee is an active member who can work
      tasks, and a finished task is not reassigned (``ValidationError`` by field);
    * all or nothing: every check runs before the one write, so a refused change (of any
      field) leaves the whole task as it was.
    """
    require_scope(tenant)
    if not support_task_can_work(task=task, user=by, role=role):
        raise PermissionDenied(_("Only the assignee or a manager may do this."))
    missing = object()
    changes = {f: v for f, v in changes.items() if getattr(task, f, missing) != v}
    if not support_task_can_manage(role=role):
        forbidden = set(changes) - ASSIGNEE_FIELDS
        if forbidden:
            raise PermissionDenied(
                _("Only a manager may change: %(fields)s.")
                % {"fields": ", ".join(sorted(forbidden))}
            )
    if "rep" in changes:
        raise ValidationError(
            {"rep": [_("A task's rep cannot change; cancel it and create another.")]}
        )
    unknown = set(changes) - MANAGER_FIELDS
    if unknown:
        raise ValidationError({f: [_("This field cannot be changed here.")] for f in unknown})
    errors: dict[str, list[str]] = {}
    if "kind" in changes:
        _check_kind(changes["kind"], errors)
    if "deal" in changes:
        _check_deal(changes["deal"], task.rep, tenant, errors)
    if "due_on" in changes:
        created_on = tenant_today(tenant, now=task.created_at)
        _check_due(changes["due_on"], created_on, errors)
    if "assignee" in changes:
        _check_assignee(changes["assignee"], tenant, errors)
        if task.status not in SupportTask.OPEN_STATUSES:
            errors.setdefault("assignee", []).append(_("A finished task cannot be reassigned."))
    if errors:
        raise ValidationError(errors)
    if not changes:
        return task
    if "assignee" in changes:
        changes["assigned_by"] = by
    for field, value in changes.items():
        setattr(task, field, value)
    task.save(update_fields=[*changes, "updated_at"])
    return task


def support_task_transition(
    *,
    task: SupportTask,
    to_status: str,
    by: AbstractBaseUser | None,
    outcome_notes: str | None = None,
    now: dt.datetime | None = None,
) -> SupportTask:
    """Move a task along open → in_progress → done | cancelled (open → cancelled too).

    Guarantees: any other move (done → open, open → done, …) raises ValidationError and
    writes nothing; each move is recorded (who, when, from, to) and stamps ``started_at``,
    ``done_at`` or ``cancelled_at``. The row is locked while it moves, so two concurrent
    moves cannot both apply.
    """
    now = now or timezone.now()
    with transaction.atomic():
        locked = SupportTask.objects.select_for_update().get(pk=task.pk)
        allowed = SupportTask.TRANSITIONS.get(locked.status, frozenset())
        if to_status not in allowed:
            raise ValidationError(
                {
                    "status": [
                        _("A task cannot move from %(from)s to %(to)s.")
                        % {"from": Status(locked.status).label, "to": _status_label(to_status)}
                    ]
                }
            )
        from_status = locked.status
        locked.status = to_status
        fields = ["status", "updated_at"]
        stamp = {
            Status.IN_PROGRESS: "started_at",
            Status.DONE: "done_at",
            Status.CANCELLED: "cancelled_at",
        }[to_status]
        setattr(locked, stamp, now)
        fields.append(stamp)
        if outcome_notes is not None:
            locked.outcome_notes = outcome_notes
            fields.append("outcome_notes")
        locked.save(update_fields=fields)
        _record(locked, from_status=from_status, by=by, at=now)
    if to_status == Status.IN_PROGRESS:
        # The task's window starts now; record its pending outcome at once.
        quick_wins_compute(tenant=task.tenant, task_ids=[locked.pk], now=now)
    for field in fields:
        setattr(task, field, getattr(locked, field))
    return task


def support_task_comment_add(
    *, task: SupportTask, author: AbstractBaseUser, body: str
) -> SupportTaskComment:
    """Add a comment to a task. An empty comment is refused."""
    body = (body or "").strip()
    if not body:
        raise ValidationError({"body": [_("A comment cannot be empty.")]})
    return SupportTaskComment.objects.create(
        tenant_id=task.tenant_id, task=task, author=author, body=body
    )
