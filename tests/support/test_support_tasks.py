"""Support tasks: creation rules, transitions and their log, reassignment, suggestions."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db.models import ProtectedError
from django.utils import timezone

from pse_crm.roles import Role
from pse_crm.tenancy import tenant_scope
from segmentation.models import Quadrant
from support.models import SupportTask, SupportTaskTransition
from support.selectors.support_tasks import support_task_can_work, support_task_suggestions
from support.services.support_tasks import (
    support_task_bulk_create,
    support_task_comment_add,
    support_task_create,
    support_task_transition,
    support_task_update,
)
from tests.factories import MembershipFactory
from tests.reps.factories import RepFactory
from tests.segmentation.factories import RepSegmentFactory, SegmentationRunFactory
from tests.support.factories import SupportTaskFactory

Status = SupportTask.Status


@pytest.fixture
def rep(tenant):
    return RepFactory(partner__tenant=tenant)


def _create(tenant, rep, assignee, manager, **kw):
    kw.setdefault("kind", SupportTask.Kind.ACCOMPANY)
    kw.setdefault("due_on", timezone.localdate() + dt.timedelta(days=5))
    return support_task_create(tenant=tenant, rep=rep, assignee=assignee, assigned_by=manager, **kw)


def test_create_records_open_and_who_assigned(in_tenant, rep, staff, manager):
    task = _create(in_tenant, rep, staff, manager)
    assert task.status == Status.OPEN
    assert task.assigned_by == manager
    log = list(task.transitions.values_list("from_status", "to_status", "changed_by"))
    assert log == [("", Status.OPEN, manager.pk)]


def test_rep_of_another_tenant_is_refused_and_nothing_written(
    in_tenant, other_tenant, staff, manager
):
    foreign = RepFactory(partner__tenant=other_tenant)
    with pytest.raises(ValidationError) as exc:
        _create(in_tenant, foreign, staff, manager)
    assert "rep" in exc.value.message_dict
    assert SupportTask.objects.count() == 0


def test_assignee_must_be_a_working_member(in_tenant, rep, manager, viewer, other_manager):
    for not_ok in (other_manager, viewer):
        with pytest.raises(ValidationError) as exc:
            _create(in_tenant, rep, not_ok, manager)
        assert "assignee" in exc.value.message_dict
    inactive = MembershipFactory(tenant=in_tenant, role=Role.STAFF, is_active=False).user
    with pytest.raises(ValidationError):
        _create(in_tenant, rep, inactive, manager)
    assert SupportTask.objects.count() == 0


def test_due_date_before_today_is_refused(in_tenant, rep, staff, manager):
    with pytest.raises(ValidationError) as exc:
        _create(in_tenant, rep, staff, manager, due_on=timezone.localdate() - dt.timedelta(days=1))
    assert "due_on" in exc.value.message_dict
    assert SupportTask.objects.count() == 0


def test_deal_of_another_partner_is_refused(in_tenant, rep, staff, manager):
    from tests.activities.factories import DealFactory

    other_deal = DealFactory(rep=RepFactory(partner__tenant=in_tenant))
    with pytest.raises(ValidationError) as exc:
        _create(in_tenant, rep, staff, manager, deal=other_deal)
    assert "deal" in exc.value.message_dict
    own_deal = DealFactory(rep=rep)
    assert _create(in_tenant, rep, staff, manager, deal=own_deal).deal == own_deal


def test_full_life_stamps_each_change(in_tenant, rep, staff, manager):
    task = _create(in_tenant, rep, staff, manager)
    t1 = timezone.now()
    support_task_transition(task=task, to_status=Status.IN_PROGRESS, by=staff, now=t1)
    t2 = t1 + dt.timedelta(days=2)
    support_task_transition(
        task=task, to_status=Status.DONE, by=staff, outcome_notes="Closed with him", now=t2
    )
    task.refresh_from_db()
    assert (task.status, task.started_at, task.done_at) == (Status.DONE, t1, t2)
    assert task.outcome_notes == "Closed with him"
    log = list(task.transitions.values_list("from_status", "to_status", "changed_by", "changed_at"))
    assert log[1:] == [
        (Status.OPEN, Status.IN_PROGRESS, staff.pk, t1),
        (Status.IN_PROGRESS, Status.DONE, staff.pk, t2),
    ]


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        ([Status.IN_PROGRESS, Status.DONE], Status.OPEN),
        ([Status.IN_PROGRESS, Status.DONE], Status.IN_PROGRESS),
        ([Status.CANCELLED], Status.IN_PROGRESS),
        ([], Status.DONE),
        ([Status.IN_PROGRESS], Status.OPEN),
    ],
)
def test_invalid_transitions_are_refused_and_not_logged(in_tenant, rep, staff, manager, path, bad):
    task = _create(in_tenant, rep, staff, manager)
    for step in path:
        support_task_transition(task=task, to_status=step, by=staff)
    logged = SupportTaskTransition.objects.count()
    before = task.status
    with pytest.raises(ValidationError):
        support_task_transition(task=task, to_status=bad, by=staff)
    task.refresh_from_db()
    assert task.status == before
    assert SupportTaskTransition.objects.count() == logged


def test_cancel_from_open(in_tenant, rep, staff, manager):
    task = _create(in_tenant, rep, staff, manager)
    support_task_transition(task=task, to_status=Status.CANCELLED, by=manager)
    task.refresh_from_db()
    assert task.status == Status.CANCELLED and task.cancelled_at is not None


def test_reassign_needs_a_member_and_an_unfinished_task(in_tenant, rep, staff, manager, owner):
    task = _create(in_tenant, rep, staff, manager)
    support_task_update(tenant=in_tenant, task=task, by=manager, role=Role.MANAGER, assignee=owner)
    task.refresh_from_db()
    assert task.assignee == owner
    support_task_transition(task=task, to_status=Status.CANCELLED, by=manager)
    with pytest.raises(ValidationError):
        support_task_update(
            tenant=in_tenant, task=task, by=manager, role=Role.MANAGER, assignee=staff
        )


def test_update_refuses_a_due_date_before_creation(in_tenant, rep, staff, manager):
    task = _create(in_tenant, rep, staff, manager)
    with pytest.raises(ValidationError):
        support_task_update(
            tenant=in_tenant,
            task=task,
            by=manager,
            role=Role.MANAGER,
            due_on=timezone.localdate() - dt.timedelta(1),
        )
    with pytest.raises(ValidationError):
        support_task_update(
            tenant=in_tenant, task=task, by=manager, role=Role.MANAGER, status=Status.DONE
        )
    support_task_update(
        tenant=in_tenant,
        task=task,
        by=manager,
        role=Role.MANAGER,
        kind=SupportTask.Kind.DEAL_STRATEGY,
    )
    task.refresh_from_db()
    assert task.kind == SupportTask.Kind.DEAL_STRATEGY


def test_bulk_create_is_all_or_nothing(in_tenant, other_tenant, staff, manager):
    reps = RepFactory.create_batch(3, partner__tenant=in_tenant)
    tasks = support_task_bulk_create(
        tenant=in_tenant,
        reps=reps,
        kind=SupportTask.Kind.MATERIALS,
        assignee=staff,
        assigned_by=manager,
        due_on=timezone.localdate(),
    )
    assert {t.rep_id for t in tasks} == {r.pk for r in reps}
    foreign = RepFactory(partner__tenant=other_tenant)
    with pytest.raises(ValidationError):
        support_task_bulk_create(
            tenant=in_tenant,
            reps=[*reps, foreign],
            kind=SupportTask.Kind.MATERIALS,
            assignee=staff,
            assigned_by=manager,
            due_on=timezone.localdate(),
        )
    assert SupportTask.objects.count() == 3


def test_comments(in_tenant, rep, staff, manager):
    task = _create(in_tenant, rep, staff, manager)
    support_task_comment_add(task=task, author=staff, body="  Meeting on Friday ")
    with pytest.raises(ValidationError):
        support_task_comment_add(task=task, author=staff, body="   ")
    assert list(task.comments.values_list("body", flat=True)) == ["Meeting on Friday"]


def test_who_may_work_a_task(in_tenant, rep, staff, manager, viewer):
    other_staff = MembershipFactory(tenant=in_tenant, role=Role.STAFF).user
    task = _create(in_tenant, rep, staff, manager)
    assert support_task_can_work(task=task, user=staff, role=Role.STAFF)
    assert not support_task_can_work(task=task, user=other_staff, role=Role.STAFF)
    assert support_task_can_work(task=task, user=other_staff, role=Role.MANAGER)
    assert not support_task_can_work(task=task, user=viewer, role=Role.VIEWER)


def test_a_rep_with_tasks_cannot_be_deleted(in_tenant, rep, staff, manager):
    _create(in_tenant, rep, staff, manager)
    with pytest.raises(ProtectedError):
        rep.delete()


# --- suggestions ------------------------------------------------------------------------


def test_suggestions_motivated_without_open_task_newest_movers_first(tenant, other_tenant):
    run = SegmentationRunFactory(tenant=tenant)
    old_run = SegmentationRunFactory(tenant=tenant, is_current=False)
    partner_rep = RepFactory(partner__tenant=tenant)
    partner = partner_rep.partner

    def seg(quadrant, previous=None, score=1.0, r=None, **kw):
        return RepSegmentFactory(
            run=kw.pop("in_run", run),
            rep=r or RepFactory(partner=partner),
            quadrant=quadrant,
            previous_quadrant=previous,
            score=score,
        )

    stayer = seg(Quadrant.MOTIVATED, Quadrant.MOTIVATED, score=9)
    mover = seg(Quadrant.MOTIVATED, Quadrant.DORMANT, score=1)
    newcomer = seg(Quadrant.MOTIVATED, None, score=5)
    seg(Quadrant.PERFORMER, Quadrant.MOTIVATED)  # not motivated now
    with_open = seg(Quadrant.MOTIVATED, Quadrant.DORMANT, score=8)
    with_done = seg(Quadrant.MOTIVATED, Quadrant.DORMANT, score=0.5)
    left = seg(Quadrant.MOTIVATED, Quadrant.DORMANT)
    left.rep.is_employed = False
    left.rep.save()
    seg(Quadrant.MOTIVATED, Quadrant.DORMANT, in_run=old_run)  # an older run
    SupportTaskFactory(rep=with_open.rep, status=Status.IN_PROGRESS)
    SupportTaskFactory(rep=with_done.rep, status=Status.DONE)
    # Another tenant's motivated rep in its own current run.
    foreign_run = SegmentationRunFactory(tenant=other_tenant)
    RepSegmentFactory(
        run=foreign_run, rep=RepFactory(partner__tenant=other_tenant), quadrant=Quadrant.MOTIVATED
    )

    with tenant_scope(tenant):
        got = [s.rep_id for s in support_task_suggestions()]
        assert got == [mover.rep_id, with_done.rep_id, newcomer.rep_id, stayer.rep_id]
        assert [s.rep_id for s in support_task_suggestions(limit=1)] == [mover.rep_id]
        assert list(support_task_suggestions(partner_id=partner.pk + 999)) == []


def test_no_suggestions_before_the_first_run(in_tenant):
    assert list(support_task_suggestions()) == []
