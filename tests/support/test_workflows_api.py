"""The workflows API: permission by role for every action, bad input, tenant isolation."""

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from knowhow.models import Hearing, KnowHow, KnowHowShare
from momentum.models import MomentumSnapshot
from pse_crm.roles import Role
from pse_crm.tenancy import tenant_scope
from segmentation.models import Quadrant
from support.models import QuickWin, SupportTask, SupportTaskTransition
from tests.activities.factories import DealFactory
from tests.factories import MembershipFactory
from tests.knowhow.factories import HearingFactory, KnowHowFactory
from tests.reps.factories import RepFactory
from tests.segmentation.factories import RepSegmentFactory, SegmentationRunFactory
from tests.support.factories import SupportTaskFactory

TASKS = "/api/v1/support-tasks/"
Status = SupportTask.Status


def as_user(user):
    c = APIClient()
    c.force_login(user)
    return c


def ids(response):
    return {row["id"] for row in response.json()["results"]}


@pytest.fixture
def rep(tenant):
    return RepFactory(partner__tenant=tenant)


@pytest.fixture
def foreign_rep(other_tenant):
    return RepFactory(partner__tenant=other_tenant)


@pytest.fixture
def task(rep, staff, manager):
    return SupportTaskFactory(rep=rep, assignee=staff, assigned_by=manager)


@pytest.fixture
def foreign_task(foreign_rep, other_manager):
    return SupportTaskFactory(rep=foreign_rep, assignee=other_manager)


def _payload(rep, assignee, **kw):
    return {
        "rep": rep.pk,
        "kind": SupportTask.Kind.ACCOMPANY,
        "assignee": assignee.pk,
        "due_on": (timezone.localdate() + dt.timedelta(days=3)).isoformat(),
        **kw,
    }


def _count(tenant, model):
    with tenant_scope(tenant):
        return model.objects.count()


# --- support tasks: roles ---------------------------------------------------------------


def test_every_member_lists_tasks_of_their_tenant_only(
    tenant, owner, manager, staff, viewer, task, foreign_task
):
    for user in (owner, manager, staff, viewer):
        response = as_user(user).get(TASKS)
        assert response.status_code == 200
        assert ids(response) == {task.pk}


def test_anonymous_and_integration_keys_are_refused(task, api_client):
    assert APIClient().get(TASKS).status_code == 401
    assert api_client.get(TASKS).status_code == 403
    assert api_client.post(TASKS, {}, format="json").status_code == 403


def test_another_tenants_task_answers_404(manager, foreign_task):
    c = as_user(manager)
    assert c.get(f"{TASKS}{foreign_task.pk}/").status_code == 404
    url = f"{TASKS}{foreign_task.pk}/transition/"
    assert c.post(url, {"status": "in_progress"}, format="json").status_code == 404


@pytest.mark.parametrize(
    ("role", "code"), [("owner", 201), ("manager", 201), ("staff", 403), ("viewer", 403)]
)
def test_only_managers_and_owners_create(tenant, rep, staff, role, code, request):
    user = request.getfixturevalue(role)
    response = as_user(user).post(TASKS, _payload(rep, staff), format="json")
    assert response.status_code == code
    assert _count(tenant, SupportTask) == (1 if code == 201 else 0)
    if code == 201:
        body = response.json()
        assert (body["status"], body["assigned_by"]["id"], body["partner"]) == (
            "open",
            user.pk,
            rep.partner_id,
        )


def test_filters_by_assignee_status_and_partner(tenant, manager, staff, rep, task):
    other = SupportTaskFactory(
        rep=RepFactory(partner__tenant=tenant), assignee=manager, status=Status.DONE
    )
    c = as_user(manager)
    assert ids(c.get(TASKS, {"assignee": staff.pk})) == {task.pk}
    assert ids(c.get(TASKS, {"status": "done"})) == {other.pk}
    assert ids(c.get(TASKS, {"partner": rep.partner_id})) == {task.pk}


def test_staff_work_their_own_task_only(tenant, staff, task):
    c = as_user(staff)
    url = f"{TASKS}{task.pk}/"
    assert c.patch(url, {"outcome_notes": "Met the CIO"}, format="json").status_code == 200
    # Staff may not reschedule or reassign, even their own task.
    assert c.patch(url, {"due_on": "2099-01-01"}, format="json").status_code == 403
    response = c.post(f"{url}transition/", {"status": "in_progress"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "in_progress"
    assert response.json()["quick_win"]["outcome"] == "pending"

    someone_elses = SupportTaskFactory(
        rep=task.rep, assignee=MembershipFactory(tenant=tenant, role=Role.STAFF).user
    )
    other_url = f"{TASKS}{someone_elses.pk}/"
    assert c.patch(other_url, {"outcome_notes": "x"}, format="json").status_code == 403
    assert (
        c.post(f"{other_url}transition/", {"status": "cancelled"}, format="json").status_code == 403
    )
    someone_elses.refresh_from_db()
    assert someone_elses.status == Status.OPEN and someone_elses.outcome_notes == ""


def test_viewers_read_but_never_write(viewer, task):
    c = as_user(viewer)
    url = f"{TASKS}{task.pk}/"
    assert c.get(url).status_code == 200
    assert c.get(f"{url}history/").status_code == 200
    assert c.patch(url, {"outcome_notes": "x"}, format="json").status_code == 403
    assert c.post(f"{url}transition/", {"status": "in_progress"}, format="json").status_code == 403
    assert c.post(f"{url}comments/", {"body": "hi"}, format="json").status_code == 403


def test_manager_reassigns_and_reschedules(tenant, manager, owner, task):
    c = as_user(manager)
    new_due = (timezone.localdate() + dt.timedelta(days=10)).isoformat()
    response = c.patch(
        f"{TASKS}{task.pk}/", {"assignee": owner.pk, "due_on": new_due}, format="json"
    )
    assert response.status_code == 200
    task.refresh_from_db()
    assert (task.assignee, task.due_on.isoformat(), task.assigned_by) == (owner, new_due, manager)


def test_no_delete(manager, task):
    assert as_user(manager).delete(f"{TASKS}{task.pk}/").status_code == 405


def test_history_and_comments(tenant, staff, manager, rep):
    c = as_user(manager)
    created = c.post(TASKS, _payload(rep, staff), format="json").json()
    url = f"{TASKS}{created['id']}/"
    s = as_user(staff)
    s.post(f"{url}transition/", {"status": "in_progress"}, format="json")
    s.post(f"{url}transition/", {"status": "done", "outcome_notes": "Won"}, format="json")
    history = c.get(f"{url}history/").json()
    assert [(h["from_status"], h["to_status"], h["changed_by"]["id"]) for h in history] == [
        ("", "open", manager.pk),
        ("open", "in_progress", staff.pk),
        ("in_progress", "done", staff.pk),
    ]
    assert s.post(f"{url}comments/", {"body": "Thanks!"}, format="json").status_code == 201
    comments = c.get(f"{url}comments/").json()
    assert [(x["body"], x["author"]["id"]) for x in comments] == [("Thanks!", staff.pk)]


# --- support tasks: bad input -----------------------------------------------------------


def test_rep_of_another_tenant_is_a_400_and_nothing_written(tenant, manager, staff, foreign_rep):
    response = as_user(manager).post(TASKS, _payload(foreign_rep, staff), format="json")
    assert response.status_code == 400 and "rep" in response.json()
    assert _count(tenant, SupportTask) == 0


def test_assignee_not_a_member_is_a_400(tenant, manager, other_manager, viewer, rep):
    c = as_user(manager)
    for user in (other_manager, viewer):
        response = c.post(TASKS, _payload(rep, user), format="json")
        assert response.status_code == 400 and "assignee" in response.json()
    assert _count(tenant, SupportTask) == 0


def test_due_date_before_creation_is_a_400(tenant, manager, staff, rep):
    past = (timezone.localdate() - dt.timedelta(days=1)).isoformat()
    response = as_user(manager).post(TASKS, _payload(rep, staff, due_on=past), format="json")
    assert response.status_code == 400 and "due_on" in response.json()
    assert _count(tenant, SupportTask) == 0


def test_done_to_open_is_a_400_and_not_recorded(tenant, manager, task):
    c = as_user(manager)
    url = f"{TASKS}{task.pk}/transition/"
    c.post(url, {"status": "in_progress"}, format="json")
    c.post(url, {"status": "done"}, format="json")
    logged = _count(tenant, SupportTaskTransition)
    response = c.post(url, {"status": "open"}, format="json")
    assert response.status_code == 400
    assert response.json()["status"] == ["A task cannot move from Done to Open."]
    task.refresh_from_db()
    assert task.status == Status.DONE
    assert _count(tenant, SupportTaskTransition) == logged
    assert c.post(url, {"status": "finished"}, format="json").status_code == 400


# --- suggestions and bulk creation ------------------------------------------------------


def test_suggestions_then_bulk_create_for_the_chosen_reps(tenant, other_tenant, manager, staff):
    run = SegmentationRunFactory(tenant=tenant)
    segs = [
        RepSegmentFactory(
            run=run, rep=RepFactory(partner__tenant=tenant), quadrant=Quadrant.MOTIVATED
        )
        for _ in range(3)
    ]
    RepSegmentFactory(
        run=SegmentationRunFactory(tenant=other_tenant),
        rep=RepFactory(partner__tenant=other_tenant),
        quadrant=Quadrant.MOTIVATED,
    )
    c = as_user(manager)
    suggested = c.get(f"{TASKS}suggestions/").json()
    assert {s["rep"] for s in suggested} == {s.rep_id for s in segs}
    chosen = [segs[0].rep_id, segs[1].rep_id]
    payload = {
        "reps": chosen,
        "kind": "deal_strategy",
        "assignee": staff.pk,
        "due_on": timezone.localdate().isoformat(),
    }
    assert as_user(staff).post(f"{TASKS}bulk/", payload, format="json").status_code == 403
    response = c.post(f"{TASKS}bulk/", payload, format="json")
    assert response.status_code == 201
    assert sorted(t["rep"] for t in response.json()) == sorted(chosen)
    # The reps with an open task are no longer suggested.
    assert [s["rep"] for s in c.get(f"{TASKS}suggestions/").json()] == [segs[2].rep_id]


def test_bulk_create_with_a_foreign_rep_writes_nothing(tenant, manager, staff, rep, foreign_rep):
    payload = {
        "reps": [rep.pk, foreign_rep.pk],
        "kind": "materials",
        "assignee": staff.pk,
        "due_on": timezone.localdate().isoformat(),
    }
    assert as_user(manager).post(f"{TASKS}bulk/", payload, format="json").status_code == 400
    assert _count(tenant, SupportTask) == 0


# --- hearings, know-how, shares ---------------------------------------------------------


def test_hearings_roles_and_isolation(tenant, other_tenant, staff, viewer, rep, foreign_rep):
    mine = HearingFactory(rep=rep)
    HearingFactory(rep=foreign_rep)
    payload = {
        "rep": rep.pk,
        "held_on": timezone.localdate().isoformat(),
        "finding_customers": "Watches renewal dates in the CRM",
        "objections": "Price → total cost over 3 years",
        "tags": ["renewal", " renewal ", "price"],
    }
    assert as_user(viewer).post("/api/v1/hearings/", payload, format="json").status_code == 403
    response = as_user(staff).post("/api/v1/hearings/", payload, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["tags"] == ["renewal", "price"] and body["held_by"]["id"] == staff.pk
    listed = ids(as_user(viewer).get("/api/v1/hearings/"))
    assert listed == {mine.pk, body["id"]}


def test_hearings_filter_by_tag(tenant, viewer, rep, foreign_rep):
    price = HearingFactory(rep=rep, tags=["price", "renewal"])
    HearingFactory(rep=rep, tags=["renewal"])
    HearingFactory(rep=rep, tags=["price list"])  # another tag, not a substring match
    HearingFactory(rep=foreign_rep, tags=["price"])  # another tenant's
    c = as_user(viewer)
    assert ids(c.get("/api/v1/hearings/", {"tag": "price"})) == {price.pk}
    assert ids(c.get("/api/v1/hearings/", {"tag": " price "})) == {price.pk}
    assert len(ids(c.get("/api/v1/hearings/", {"tag": "renewal"}))) == 2
    assert ids(c.get("/api/v1/hearings/", {"tag": "pri"})) == set()


def test_hearing_without_a_rep_or_with_a_foreign_rep_is_a_400(tenant, staff, foreign_rep):
    c = as_user(staff)
    day = timezone.localdate().isoformat()
    response = c.post("/api/v1/hearings/", {"held_on": day}, format="json")
    assert response.status_code == 400 and "rep" in response.json()
    response = c.post("/api/v1/hearings/", {"held_on": day, "rep": foreign_rep.pk}, format="json")
    assert response.status_code == 400 and "rep" in response.json()
    assert _count(tenant, Hearing) == 0


def test_know_how_from_hearings_takes_the_reps_quadrants(tenant, staff, rep):
    hearing = HearingFactory(rep=rep)
    run = SegmentationRunFactory(tenant=tenant)
    RepSegmentFactory(run=run, rep=rep, quadrant=Quadrant.PERFORMER)
    payload = {
        "title": "Renewal opener",
        "body": "Ask for the renewal date.",
        "hearings": [hearing.pk],
    }
    response = as_user(staff).post("/api/v1/know-how/", payload, format="json")
    assert response.status_code == 201
    assert response.json()["source_quadrants"] == ["performer"]
    assert response.json()["hearings"] == [hearing.pk]


def test_know_how_with_a_foreign_hearing_is_a_400(tenant, staff, foreign_rep):
    foreign = HearingFactory(rep=foreign_rep)
    payload = {"title": "x", "body": "y", "hearings": [foreign.pk]}
    assert as_user(staff).post("/api/v1/know-how/", payload, format="json").status_code == 400
    assert _count(tenant, KnowHow) == 0


def test_shares_and_reach(tenant, other_tenant, staff, viewer, rep):
    know_how = KnowHowFactory(tenant=tenant)
    c = as_user(staff)
    response = c.post(
        "/api/v1/know-how-shares/", {"know_how": know_how.pk, "rep": rep.pk}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["partner"] == rep.partner_id
    DealFactory(rep=rep, is_won=True, close_date=timezone.localdate(), sf_created_at=None)
    foreign = KnowHowFactory(tenant=other_tenant)
    assert (
        c.post(
            "/api/v1/know-how-shares/", {"know_how": foreign.pk, "rep": rep.pk}, format="json"
        ).status_code
        == 400
    )
    assert (
        as_user(viewer)
        .post("/api/v1/know-how-shares/", {"know_how": know_how.pk, "rep": rep.pk}, format="json")
        .status_code
        == 403
    )
    assert _count(tenant, KnowHowShare) == 1
    reach = as_user(viewer).get("/api/v1/know-how/reach/", {"days": 10}).json()
    assert reach == [
        {
            "know_how": know_how.pk,
            "title": know_how.title,
            "days": 10,
            "shares": 1,
            "reached": 1,
            "became_active": 0,
            "won": 1,
        }
    ]


# --- quick wins and momentum ------------------------------------------------------------


def test_quick_win_rates_and_recompute_roles(
    tenant, other_tenant, manager, staff, viewer, task, django_capture_on_commit_callbacks
):
    SupportTaskFactory(
        rep=RepFactory(partner__tenant=other_tenant),
        status=Status.IN_PROGRESS,
        started_at=timezone.now(),
    )
    as_user(staff).post(f"{TASKS}{task.pk}/transition/", {"status": "in_progress"}, format="json")
    DealFactory(rep=task.rep, is_won=True, close_date=timezone.localdate(), sf_created_at=None)
    assert as_user(staff).post("/api/v1/quick-wins/recompute/").status_code == 403
    assert as_user(viewer).post("/api/v1/quick-wins/recompute/").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        response = as_user(manager).post("/api/v1/quick-wins/recompute/")
    assert response.status_code == 202
    listed = as_user(viewer).get("/api/v1/quick-wins/").json()["results"]
    assert [(q["task"], q["outcome"], q["days_to_win"]) for q in listed] == [(task.pk, "won", 0)]
    rates = as_user(viewer).get("/api/v1/quick-wins/rates/", {"group_by": "kind"}).json()
    assert rates == [
        {
            "key": "accompany",
            "label": "accompany",
            "started": 1,
            "decided": 1,
            "quick_wins": 1,
            "wins": 1,
            "pending": 0,
            "rate": 1.0,
            "avg_days_to_win": 0.0,
        }
    ]
    assert as_user(viewer).get("/api/v1/quick-wins/rates/", {"group_by": "x"}).status_code == 400
    with tenant_scope(other_tenant):
        assert not QuickWin.objects.exists()


def test_momentum_list_and_indicators(tenant, other_tenant, manager, rep):
    from momentum.services import momentum_backfill

    with tenant_scope(tenant):
        momentum_backfill(tenant=tenant, weeks=2, segment_weeks=False)
    with tenant_scope(other_tenant):
        RepFactory(partner__tenant=other_tenant)
        momentum_backfill(tenant=other_tenant, weeks=2, segment_weeks=False)
    c = as_user(manager)
    rows = c.get("/api/v1/momentum/", {"partner": rep.partner_id}).json()["results"]
    assert len(rows) == 2 and {r["partner"] for r in rows} == {rep.partner_id}
    everything = c.get("/api/v1/momentum/").json()["results"]
    assert len(everything) == 4  # our partner and our tenant row, two weeks
    indicators = c.get("/api/v1/momentum/indicators/").json()
    assert {i["partner"] for i in indicators} == {None, rep.partner_id}
    assert all(i["label"] == "steady" for i in indicators)
    with tenant_scope(tenant):
        assert MomentumSnapshot.objects.count() == 4


# --- admin ------------------------------------------------------------------------------


def test_admin_pages_of_the_workflow_models_show_this_tenant_only(
    tenant, other_tenant, manager, task, foreign_task
):
    from django.test import Client

    manager.is_staff = True
    manager.save()
    HearingFactory(rep=task.rep)
    c = Client()
    c.force_login(manager)
    for path in (
        "knowhow/hearing",
        "knowhow/knowhow",
        "knowhow/knowhowshare",
        "support/supporttask",
        "support/quickwin",
        "momentum/momentumsnapshot",
    ):
        assert c.get(f"/admin/{path}/").status_code == 200, path
    page = c.get(f"/admin/support/supporttask/{task.pk}/change/")
    assert page.status_code == 200
    assert c.get(f"/admin/support/supporttask/{foreign_task.pk}/change/").status_code == 302


# --- one matrix: every action, every role ----------------------------------------------

WRITERS = {"owner", "manager", "staff"}
MANAGERS = {"owner", "manager"}
EVERYONE = {"owner", "manager", "staff", "viewer"}


def _actions(rep, task, hearing, know_how, staff):
    """(method, url, payload, roles allowed, their status). The task is assigned to ``staff``."""
    day = timezone.localdate().isoformat()
    t = f"{TASKS}{task.pk}/"
    return [
        ("get", TASKS, None, EVERYONE, 200),
        ("get", t, None, EVERYONE, 200),
        ("get", f"{t}history/", None, EVERYONE, 200),
        ("get", f"{t}comments/", None, EVERYONE, 200),
        ("get", f"{TASKS}suggestions/", None, EVERYONE, 200),
        ("post", TASKS, _payload(rep, staff), MANAGERS, 201),
        (
            "post",
            f"{TASKS}bulk/",
            {"reps": [rep.pk], "kind": "other", "assignee": staff.pk, "due_on": day},
            MANAGERS,
            201,
        ),
        ("patch", t, {"outcome_notes": "n"}, WRITERS, 200),
        ("post", f"{t}comments/", {"body": "b"}, WRITERS, 201),
        ("post", f"{t}transition/", {"status": "in_progress"}, WRITERS, 200),
        ("get", "/api/v1/hearings/", None, EVERYONE, 200),
        ("get", f"/api/v1/hearings/{hearing.pk}/", None, EVERYONE, 200),
        ("post", "/api/v1/hearings/", {"rep": rep.pk, "held_on": day}, WRITERS, 201),
        ("patch", f"/api/v1/hearings/{hearing.pk}/", {"notes": "n"}, WRITERS, 200),
        ("get", "/api/v1/know-how/", None, EVERYONE, 200),
        ("get", "/api/v1/know-how/reach/", None, EVERYONE, 200),
        ("post", "/api/v1/know-how/", {"title": "t", "body": "b"}, WRITERS, 201),
        ("patch", f"/api/v1/know-how/{know_how.pk}/", {"title": "t2"}, WRITERS, 200),
        ("get", "/api/v1/know-how-shares/", None, EVERYONE, 200),
        (
            "post",
            "/api/v1/know-how-shares/",
            {"know_how": know_how.pk, "rep": rep.pk},
            WRITERS,
            201,
        ),
        ("get", "/api/v1/quick-wins/", None, EVERYONE, 200),
        ("get", "/api/v1/quick-wins/rates/?group_by=month", None, EVERYONE, 200),
        ("post", "/api/v1/quick-wins/recompute/", None, MANAGERS, 202),
        ("get", "/api/v1/momentum/", None, EVERYONE, 200),
        ("get", "/api/v1/momentum/indicators/", None, EVERYONE, 200),
    ]


@pytest.mark.parametrize("role", ["owner", "manager", "staff", "viewer"])
def test_role_matrix(tenant, role, rep, staff, manager, request):
    user = request.getfixturevalue(role)
    for method, url, payload, allowed, ok in _actions(
        rep,
        SupportTaskFactory(rep=rep, assignee=staff, assigned_by=manager),
        HearingFactory(rep=rep),
        KnowHowFactory(tenant=tenant),
        staff,
    ):
        response = getattr(as_user(user), method)(url, payload, format="json")
        if role in allowed:
            assert response.status_code == ok, (role, method, url, response.content)
        else:
            assert response.status_code == 403, (role, method, url)


def test_anonymous_and_keys_are_refused_everywhere(tenant, rep, staff, manager, api_client):
    actions = _actions(
        rep,
        SupportTaskFactory(rep=rep, assignee=staff, assigned_by=manager),
        HearingFactory(rep=rep),
        KnowHowFactory(tenant=tenant),
        staff,
    )
    for method, url, payload, _allowed, _ok in actions:
        assert getattr(APIClient(), method)(url, payload, format="json").status_code == 401, url
        assert getattr(api_client, method)(url, payload, format="json").status_code == 403, url


def test_another_tenants_member_gets_404_on_every_object(tenant, other_client, rep, staff, manager):
    task = SupportTaskFactory(rep=rep, assignee=staff, assigned_by=manager)
    hearing = HearingFactory(rep=rep)
    know_how = KnowHowFactory(tenant=tenant)
    c = other_client
    for method, url in [
        ("get", f"{TASKS}{task.pk}/"),
        ("patch", f"{TASKS}{task.pk}/"),
        ("get", f"{TASKS}{task.pk}/history/"),
        ("get", f"{TASKS}{task.pk}/comments/"),
        ("post", f"{TASKS}{task.pk}/comments/"),
        ("get", f"/api/v1/hearings/{hearing.pk}/"),
        ("patch", f"/api/v1/hearings/{hearing.pk}/"),
        ("get", f"/api/v1/know-how/{know_how.pk}/"),
        ("patch", f"/api/v1/know-how/{know_how.pk}/"),
    ]:
        response = getattr(c, method)(url, {"body": "x"}, content_type="application/json")
        assert response.status_code == 404, (method, url)
    for url in (TASKS, "/api/v1/hearings/", "/api/v1/know-how/", "/api/v1/know-how-shares/"):
        assert c.get(url).json()["results"] == [], url


def test_a_refused_reassignment_saves_none_of_the_other_changes(tenant, manager, owner, task):
    c = as_user(manager)
    assert (
        c.post(
            f"{TASKS}{task.pk}/transition/", {"status": "in_progress"}, format="json"
        ).status_code
        == 200
    )
    assert (
        c.post(f"{TASKS}{task.pk}/transition/", {"status": "done"}, format="json").status_code
        == 200
    )
    task.refresh_from_db()
    before = task.title
    response = c.patch(
        f"{TASKS}{task.pk}/", {"title": "Changed title", "assignee": owner.pk}, format="json"
    )
    assert response.status_code == 400
    task.refresh_from_db()
    assert (task.title, task.assignee_id) == (before, task.assignee_id)
    assert task.title != "Changed title"
