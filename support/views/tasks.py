"""Support tasks: "my tasks" for staff, the board for managers, create (single and from
suggestions), assign, move through statuses, comment. The services decide the rules;
these views check the role first, so a refused action never reaches them."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from pse_crm import roles
from pse_crm.calendar import tenant_today
from pse_crm.permissions import capability_required, request_role
from reps.models import Rep
from support.forms import (
    AssignForm,
    CommentForm,
    SuggestionTasksForm,
    SupportTaskForm,
    TransitionForm,
)
from support.models import QuickWin, SupportTask
from support.selectors.support_tasks import (
    support_task_can_manage,
    support_task_can_work,
    support_task_list,
    support_task_suggestions,
)
from support.services.support_tasks import (
    support_task_bulk_create,
    support_task_comment_add,
    support_task_create,
    support_task_transition,
    support_task_update,
)

BOARD_LIMIT = 50  # cards per open column; the rest are one click away in the filtered list
BOARD_FINISHED_LIMIT = 10  # done and cancelled: the latest only
SUGGESTION_LIMIT = 50
DEFAULT_DUE_DAYS = 14


@capability_required(roles.READ)
def task_list(request: HttpRequest) -> HttpResponse:
    """My open tasks (anyone), or every task by a status (with ?all=1)."""
    status = request.GET.get("status") or None
    if status not in SupportTask.Status.values:
        status = None
    show_all = request.GET.get("all") == "1"
    qs = support_task_list(assignee_id=None if show_all else request.user.pk, status=status)
    if status is None and not show_all:
        qs = qs.filter(status__in=SupportTask.OPEN_STATUSES)
    tasks = list(qs.order_by("due_on", "pk")[:200])
    return render(
        request,
        "support/task_list.html",
        {
            "tasks": tasks,
            "status": status,
            "show_all": show_all,
            "statuses": SupportTask.Status.choices,
            "today": tenant_today(request.tenant),
        },
    )


@capability_required(roles.MANAGE)
def task_board(request: HttpRequest) -> HttpResponse:
    counts = dict(
        SupportTask.objects.values("status").annotate(n=Count("pk")).values_list("status", "n")
    )
    columns = []
    for status, label in SupportTask.Status.choices:
        is_open = status in SupportTask.OPEN_STATUSES
        order = ("due_on", "pk") if is_open else ("-updated_at", "-pk")
        limit = BOARD_LIMIT if is_open else BOARD_FINISHED_LIMIT
        columns.append(
            {
                "status": status,
                "label": label,
                "count": counts.get(status, 0),
                "tasks": list(support_task_list(status=status).order_by(*order)[:limit]),
            }
        )
    return render(
        request,
        "support/task_board.html",
        {"columns": columns, "today": tenant_today(request.tenant)},
    )


def _new_task_initial(request: HttpRequest, **initial) -> dict:
    """A new task's form defaults: due in DEFAULT_DUE_DAYS (tenant's today), assigned to me."""
    return {
        **initial,
        "due_on": tenant_today(request.tenant) + dt.timedelta(days=DEFAULT_DUE_DAYS),
        "assignee": request.user.pk,
    }


@capability_required(roles.MANAGE)
def task_create(request: HttpRequest) -> HttpResponse:
    rep_id = request.POST.get("rep") or request.GET.get("rep")
    if rep_id and not str(rep_id).isdigit():
        raise Http404
    if not rep_id:
        return redirect("task-suggestions")
    rep = get_object_or_404(Rep.objects.select_related("partner"), pk=rep_id)
    form = SupportTaskForm(
        request.POST or None, tenant=request.tenant, initial=_new_task_initial(request, rep=rep.pk)
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            task = support_task_create(
                tenant=request.tenant,
                rep=data["rep"],
                kind=data["kind"],
                assignee=data["assignee"],
                assigned_by=request.user,
                due_on=data["due_on"],
                title=data["title"],
                description=data["description"],
            )
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(
                request,
                _("Task assigned to %(user)s.") % {"user": task.assignee},
            )
            return redirect("task-detail", pk=task.pk)
    return render(request, "support/task_form.html", {"form": form, "rep": rep})


@capability_required(roles.MANAGE)
def task_suggestions(request: HttpRequest) -> HttpResponse:
    """Motivated reps without an open task: pick some and create one task each."""
    suggestions = list(support_task_suggestions(limit=SUGGESTION_LIMIT))
    form = SuggestionTasksForm(
        request.POST or None, tenant=request.tenant, initial=_new_task_initial(request)
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            tasks = support_task_bulk_create(
                tenant=request.tenant,
                reps=list(data["reps"]),
                kind=data["kind"],
                assignee=data["assignee"],
                assigned_by=request.user,
                due_on=data["due_on"],
            )
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(
                request,
                ngettext(
                    "%(n)d task assigned to %(user)s.",
                    "%(n)d tasks assigned to %(user)s.",
                    len(tasks),
                )
                % {"n": len(tasks), "user": data["assignee"]},
            )
            return redirect("task-board")
    chosen = {str(v) for v in (form["reps"].value() or [])}
    return render(
        request,
        "support/task_suggestions.html",
        {"form": form, "suggestions": suggestions, "chosen": chosen},
    )


def _task(pk: int) -> SupportTask:
    return get_object_or_404(
        SupportTask.objects.select_related(
            "rep", "rep__partner", "assignee", "assigned_by", "deal"
        ),
        pk=pk,
    )


@capability_required(roles.READ)
def task_detail(request: HttpRequest, pk: int) -> HttpResponse:
    task = _task(pk)
    role = request_role(request)
    can_work = support_task_can_work(task=task, user=request.user, role=role)
    can_manage = support_task_can_manage(role=role)
    return render(
        request,
        "support/task_detail.html",
        {
            "task": task,
            "transitions": list(task.transitions.select_related("changed_by")),
            "comments": list(task.comments.select_related("author")),
            "next_statuses": [
                (s, SupportTask.Status(s).label)
                for s in SupportTask.Status.values
                if s in SupportTask.TRANSITIONS.get(task.status, ())
            ]
            if can_work
            else [],
            "can_work": can_work,
            "can_manage": can_manage,
            "can_comment": roles.role_allows(role, roles.WRITE_ENABLEMENT),
            "assign_form": AssignForm(tenant=request.tenant, initial={"assignee": task.assignee_id})
            if can_manage and task.status in SupportTask.OPEN_STATUSES
            else None,
            "comment_form": CommentForm(),
            "transition_form": TransitionForm(initial={"outcome_notes": task.outcome_notes}),
            "quick_win": QuickWin.objects.filter(task=task).first(),
        },
    )


@require_POST
@capability_required(roles.WRITE_ENABLEMENT)
def task_transition(request: HttpRequest, pk: int) -> HttpResponse:
    task = _task(pk)
    if not support_task_can_work(task=task, user=request.user, role=request_role(request)):
        raise PermissionDenied
    form = TransitionForm(request.POST)
    if form.is_valid():
        try:
            support_task_transition(
                task=task,
                to_status=form.cleaned_data["to_status"],
                by=request.user,
                outcome_notes=form.cleaned_data["outcome_notes"] or None,
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(
                request, _("The task is now “%(status)s”.") % {"status": task.get_status_display()}
            )
    else:
        messages.error(request, _("Choose a valid status."))
    return redirect("task-detail", pk=task.pk)


@require_POST
@capability_required(roles.MANAGE)
def task_assign(request: HttpRequest, pk: int) -> HttpResponse:
    task = _task(pk)
    form = AssignForm(request.POST, tenant=request.tenant)
    if form.is_valid():
        try:
            support_task_update(
                tenant=request.tenant,
                task=task,
                by=request.user,
                role=request_role(request),
                assignee=form.cleaned_data["assignee"],
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, _("Task assigned to %(user)s.") % {"user": task.assignee})
    else:
        messages.error(request, _("Choose a member who can work tasks."))
    return redirect("task-detail", pk=task.pk)


@require_POST
@capability_required(roles.WRITE_ENABLEMENT)
def task_comment(request: HttpRequest, pk: int) -> HttpResponse:
    task = _task(pk)
    form = CommentForm(request.POST)
    if form.is_valid():
        try:
            support_task_comment_add(task=task, author=request.user, body=form.cleaned_data["body"])
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, _("Comment added."))
    else:
        messages.error(request, _("A comment cannot be empty."))
    return redirect("task-detail", pk=task.pk)
