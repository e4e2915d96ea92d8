"""The views' roll-ups (RepViewDay, RepMaterialSpan): each tenant's views up to its mark,
folded in by ``view_rollups_fold`` and kept by PostgreSQL triggers below it.

Whatever writes the views (the ingestion service, the ORM, a deletion, an update), the
roll-ups must equal what the views up to the mark say, and after a fold what all of them
say: checked against an aggregate of the views.
"""

from __future__ import annotations

import datetime as dt
import importlib
import threading
from contextlib import contextmanager

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from activities.models import MaterialView, RepMaterialSpan, RepViewDay, ViewRollupMark
from activities.services.material_views import material_views_ingest
from activities.services.rollups import view_rollups_fold, view_rollups_mark
from pse_crm.models import Tenant
from pse_crm.tenancy import all_tenants, tenant_scope
from pse_crm.tenant_data import tenant_delete
from tests.activities.factories import MaterialFactory, MaterialViewFactory
from tests.helpers import on_another_connection
from tests.reps.factories import RepFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="triggers are PostgreSQL's"),
]

UTC = dt.UTC


def _days(tenant_id: int) -> dict:
    return {
        (r.rep_id, r.day): r.views for r in RepViewDay._base_manager.filter(tenant_id=tenant_id)
    }


def _spans(tenant_id: int) -> dict:
    return {
        (r.rep_id, r.material_id): (r.first_viewed_at, r.last_viewed_at)
        for r in RepMaterialSpan._base_manager.filter(tenant_id=tenant_id)
    }


def _mark(tenant_id: int) -> int:
    return view_rollups_mark(tenant_id=tenant_id)


def _expected(tenant_id: int, *, through: int | None = None) -> tuple[dict, dict]:
    """The roll-ups computed from the views (up to ``through``, a view id), in Python."""
    days: dict = {}
    spans: dict = {}
    views = MaterialView._base_manager.filter(tenant_id=tenant_id)
    if through is not None:
        views = views.filter(pk__lte=through)
    for rep, material, at in views.values_list("rep_id", "material_id", "viewed_at"):
        key = (rep, at.astimezone(UTC).date())
        days[key] = days.get(key, 0) + 1
        first, last = spans.get((rep, material), (at, at))
        spans[(rep, material)] = (min(first, at), max(last, at))
    return days, spans


def _fold(tenant_id: int, **kwargs) -> int:
    return view_rollups_fold(tenant=Tenant._base_manager.get(pk=tenant_id), **kwargs)


def _assert_in_step(tenant_id: int) -> None:
    """The roll-ups hold the views up to the mark, and after a fold all of them."""
    days, spans = _expected(tenant_id, through=_mark(tenant_id))
    assert _days(tenant_id) == days
    assert _spans(tenant_id) == spans
    _fold(tenant_id)
    days, spans = _expected(tenant_id)
    assert _days(tenant_id) == days
    assert _spans(tenant_id) == spans
    last = MaterialView._base_manager.filter(tenant_id=tenant_id).order_by("-pk").first()
    assert _mark(tenant_id) >= (last.pk if last else 0)


@pytest.fixture
def world(tenant, other_tenant):
    rep = RepFactory(tenant=tenant, email="taro@sample.co.jp", partner__tenant=tenant)
    deck = MaterialFactory(tenant=tenant, external_id="deck")
    sheet = MaterialFactory(tenant=tenant, external_id="sheet")
    other = MaterialViewFactory(
        tenant=other_tenant, rep__tenant=other_tenant, rep__partner__tenant=other_tenant
    )
    return {"rep": rep, "deck": deck, "sheet": sheet, "other": other}


def _row(event: str, material: str, at: str) -> dict:
    return {
        "event_id": event,
        "rep_email": "taro@sample.co.jp",
        "material_external_id": material,
        "viewed_at": at,
        "duration_seconds": 5,
    }


def test_ingestion_adds_counts_per_utc_day_and_spans_per_material(tenant, world):
    rep = world["rep"]
    rows = [
        _row("a", "deck", "2026-03-01T23:30:00Z"),
        _row("b", "deck", "2026-03-02T00:10:00Z"),  # the next UTC day
        _row("c", "sheet", "2026-03-02T08:00:00+09:00"),  # 2026-03-01 23:00 UTC
    ]
    material_views_ingest(tenant=tenant, rows=list(enumerate(rows)))
    # Storing views writes no roll-up: they are above the tenant's mark until a fold.
    assert (_days(tenant.pk), _spans(tenant.pk), _mark(tenant.pk)) == ({}, {}, 0)
    assert _fold(tenant.pk) == 3
    assert _mark(tenant.pk) == MaterialView._base_manager.filter(tenant=tenant).latest("pk").pk
    assert _days(tenant.pk) == {
        (rep.pk, dt.date(2026, 3, 1)): 2,
        (rep.pk, dt.date(2026, 3, 2)): 1,
    }
    assert _spans(tenant.pk) == {
        (rep.pk, world["deck"].pk): (
            dt.datetime(2026, 3, 1, 23, 30, tzinfo=UTC),
            dt.datetime(2026, 3, 2, 0, 10, tzinfo=UTC),
        ),
        (rep.pk, world["sheet"].pk): (
            dt.datetime(2026, 3, 1, 23, tzinfo=UTC),
            dt.datetime(2026, 3, 1, 23, tzinfo=UTC),
        ),
    }

    # A replay adds nothing; a later batch adds to the counts and widens the spans.
    material_views_ingest(tenant=tenant, rows=list(enumerate(rows)))
    material_views_ingest(
        tenant=tenant,
        rows=list(
            enumerate([_row("d", "deck", "2026-02-27T12:00:00Z"), _row("a", "deck", "2020-01-01")])
        ),
    )
    assert _fold(tenant.pk) == 1
    assert _days(tenant.pk)[(rep.pk, dt.date(2026, 3, 1))] == 2
    assert _days(tenant.pk)[(rep.pk, dt.date(2026, 2, 27))] == 1
    assert _spans(tenant.pk)[(rep.pk, world["deck"].pk)][0] == dt.datetime(
        2026, 2, 27, 12, tzinfo=UTC
    )
    _assert_in_step(tenant.pk)
    # The other tenant's view is rolled up in its own tenant only.
    other = world["other"]
    _fold(other.tenant_id)
    assert set(_days(other.tenant_id)) == {(other.rep_id, other.viewed_at.astimezone(UTC).date())}


def test_orm_writes_updates_and_deletes_keep_them_in_step(tenant, world):
    rep, deck, sheet = world["rep"], world["deck"], world["sheet"]
    at = dt.datetime(2026, 5, 10, 12, tzinfo=UTC)
    views = [
        MaterialViewFactory(
            tenant=tenant, rep=rep, material=m, viewed_at=at + dt.timedelta(hours=h)
        )
        for h, m in [(0, deck), (1, deck), (2, sheet), (30, deck)]
    ]
    _assert_in_step(tenant.pk)
    assert _days(tenant.pk)[(rep.pk, at.date())] == 3

    # Deleting the last view of a day and of a span: both shrink back to what remains.
    MaterialView._base_manager.filter(pk=views[3].pk).delete()
    _assert_in_step(tenant.pk)
    assert _spans(tenant.pk)[(rep.pk, deck.pk)] == (at, at + dt.timedelta(hours=1))

    # Moving a view to another day and material moves its counts.
    MaterialView._base_manager.filter(pk=views[1].pk).update(
        viewed_at=at - dt.timedelta(days=3), material=sheet
    )
    _assert_in_step(tenant.pk)
    assert _days(tenant.pk)[(rep.pk, at.date())] == 2

    # The last view of a pair gone: its span is gone, not left at stale dates.
    MaterialView._base_manager.filter(pk=views[0].pk).delete()
    _assert_in_step(tenant.pk)
    assert (rep.pk, deck.pk) not in _spans(tenant.pk)

    # An update that touches no view changes nothing.
    MaterialView._base_manager.filter(pk=-1).update(duration_seconds=1)
    _assert_in_step(tenant.pk)


def test_deleting_a_tenant_removes_its_roll_ups_and_keeps_another(tenant, world):
    material_views_ingest(
        tenant=tenant, rows=list(enumerate([_row("a", "deck", "2026-03-01T10:00:00Z")]))
    )
    other = world["other"]
    _fold(tenant.pk)
    _fold(other.tenant_id)
    before = _days(other.tenant_id), _spans(other.tenant_id), _mark(other.tenant_id)
    with all_tenants():
        tenant_delete(tenant=tenant)
    assert not RepViewDay._base_manager.filter(tenant_id=tenant.pk).exists()
    assert not RepMaterialSpan._base_manager.filter(tenant_id=tenant.pk).exists()
    assert not ViewRollupMark._base_manager.filter(tenant_id=tenant.pk).exists()
    before = before[:2]
    assert (_days(other.tenant_id), _spans(other.tenant_id)) == before
    assert before[0]


def test_the_migration_backfill_equals_what_the_triggers_keep(tenant, world):
    rep = world["rep"]
    for h in range(5):
        MaterialViewFactory(
            tenant=tenant,
            rep=rep,
            material=world["deck" if h % 2 else "sheet"],
            viewed_at=dt.datetime(2026, 4, 1, tzinfo=UTC) + dt.timedelta(hours=7 * h),
        )
    tenants = (tenant.pk, world["other"].tenant_id)
    for t in tenants:
        _fold(t)
    kept = {t: (_days(t), _spans(t)) for t in tenants}
    backfill = importlib.import_module("activities.migrations.0006_view_rollups").BACKFILL
    marks = importlib.import_module("activities.migrations.0015_view_rollup_mark").MARKS
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM activities_repviewday")
        cursor.execute("DELETE FROM activities_repmaterialspan")
        cursor.execute("DELETE FROM activities_viewrollupmark")
        cursor.execute(backfill + marks)
    assert {t: (_days(t), _spans(t)) for t in kept} == kept
    assert len(kept[tenant.pk][0]) == 2
    # The migration's marks: each tenant's last view.
    for t in tenants:
        assert _mark(t) == MaterialView._base_manager.filter(tenant_id=t).latest("pk").pk


@contextmanager
def _uncommitted_view(errors: list[BaseException], **fields):
    """A view inserted on another connection and left uncommitted for the block; it
    commits when the block ends."""
    inserted, finish = threading.Event(), threading.Event()

    def hold():
        try:
            with transaction.atomic():
                MaterialViewFactory(**fields)
                inserted.set()
                finish.wait(10)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            inserted.set()
        finally:
            connections.close_all()

    thread = threading.Thread(target=hold)
    thread.start()
    assert inserted.wait(10)
    try:
        yield
    finally:
        finish.set()
        thread.join(20)


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_neither_lose_nor_double_count(tenant, world):
    """An insert waits on another's uncommitted row (ON CONFLICT adds after it commits);
    a deletion's rebuild waits for inserts in flight, so it counts them."""
    rep, deck = world["rep"], world["deck"]
    at = dt.datetime(2026, 6, 1, 9, tzinfo=UTC)
    doomed = MaterialViewFactory(tenant=tenant, rep=rep, material=deck, viewed_at=at)
    _fold(tenant.pk)
    errors: list[BaseException] = []
    held = {"tenant": tenant, "rep": rep, "material": deck}
    with _uncommitted_view(errors, **held, viewed_at=at + dt.timedelta(hours=1)):
        # While the first insert is uncommitted: a second insert on the same keys goes on
        # (above the mark, neither writes a roll-up); the deletion of a rolled-up view of
        # them and a fold wait for the first to commit.
        two = on_another_connection(
            lambda: MaterialViewFactory(**held, viewed_at=at + dt.timedelta(hours=2)), errors
        )
        two.join(10)
        assert not two.is_alive(), "an insert above the mark waits for no one"
        three = on_another_connection(
            lambda: MaterialView._base_manager.filter(pk=doomed.pk).delete(), errors
        )
        four = on_another_connection(lambda: _fold(tenant.pk), errors)
        three.join(1)
        four.join(0.5)
        assert three.is_alive() and four.is_alive(), "they should wait for the first writer"
    for thread in (two, three, four):
        thread.join(20)
    assert not errors, errors
    _assert_in_step(tenant.pk)
    assert _days(tenant.pk)[(rep.pk, at.date())] == 2
    assert _spans(tenant.pk)[(rep.pk, deck.pk)] == (
        at + dt.timedelta(hours=1),
        at + dt.timedelta(hours=2),
    )


@pytest.mark.django_db(transaction=True)
def test_a_view_moved_onto_keys_an_uncommitted_insert_creates_waits_for_it(tenant, world):
    """The update's rebuild of a key that has no roll-up row yet, while an insert's row
    for that key is uncommitted: without the tenant's lock the rebuild would insert it a
    second time (a unique violation) or miss the insert."""
    rep, deck, sheet = world["rep"], world["deck"], world["sheet"]
    at = dt.datetime(2026, 6, 1, 9, tzinfo=UTC)
    new_day = at + dt.timedelta(days=3)
    moving = MaterialViewFactory(tenant=tenant, rep=rep, material=deck, viewed_at=at)
    _fold(tenant.pk)
    errors: list[BaseException] = []
    with _uncommitted_view(errors, tenant=tenant, rep=rep, material=sheet, viewed_at=new_day):
        two = on_another_connection(
            lambda: MaterialView._base_manager.filter(pk=moving.pk).update(
                viewed_at=new_day + dt.timedelta(minutes=5), material=sheet
            ),
            errors,
        )
        two.join(1)
        assert two.is_alive(), "the move should wait for the insert"
    two.join(20)
    assert not errors, errors
    _assert_in_step(tenant.pk)
    assert _days(tenant.pk) == {(rep.pk, new_day.date()): 2}
    assert _spans(tenant.pk)[(rep.pk, sheet.pk)] == (new_day, new_day + dt.timedelta(minutes=5))


def test_the_triggers_pass_the_tenant_wall_as_the_application_role(tenant, world):
    """The app connects as a NOBYPASSRLS role: the triggers' writes must pass the policies."""
    from tests.hardening.conftest import acting_as_app_role

    rows = list(enumerate([_row("a", "deck", "2026-03-01T10:00:00Z")]))
    with acting_as_app_role(), tenant_scope(tenant):
        material_views_ingest(tenant=tenant, rows=rows)
        view = MaterialView.objects.get(event_id="a")
        MaterialView.objects.filter(pk=view.pk).update(viewed_at=view.viewed_at - dt.timedelta(1))
        _assert_in_step(tenant.pk)
        MaterialView.objects.filter(pk=view.pk).delete()
    _assert_in_step(tenant.pk)
    assert not _days(tenant.pk)


def test_truncate_empties_them_and_the_command_rebuilds_what_bypassed_the_triggers(tenant, world):
    from django.core.management import call_command

    rep, deck = world["rep"], world["deck"]
    at = dt.datetime(2026, 7, 1, 12, tzinfo=UTC)
    views = [MaterialViewFactory(tenant=tenant, rep=rep, material=deck, viewed_at=at)]
    views.append(MaterialViewFactory(tenant=tenant, rep=rep, material=deck, viewed_at=at))
    _fold(tenant.pk)
    with connection.cursor() as cursor:
        # A restore with --disable-triggers, say: a change to rolled-up views the roll-ups
        # never saw, and a view above the mark.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending events for ALTER
        cursor.execute("ALTER TABLE activities_materialview DISABLE TRIGGER USER")
        MaterialView._base_manager.filter(pk=views[0].pk).delete()
        last = MaterialViewFactory(tenant=tenant, rep=rep, material=deck, viewed_at=at)
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE activities_materialview ENABLE TRIGGER USER")
    assert _days(tenant.pk)[(rep.pk, at.date())] == 2  # stale
    call_command("rebuild_view_rollups", tenant=tenant.slug)
    assert _mark(tenant.pk) == last.pk
    assert _days(tenant.pk)[(rep.pk, at.date())] == 2  # views[1] and last
    _assert_in_step(tenant.pk)
    _assert_in_step(world["other"].tenant_id)

    mark = _mark(tenant.pk)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE activities_materialview RESTART IDENTITY CASCADE")
    assert not RepViewDay._base_manager.exists()
    assert not RepMaterialSpan._base_manager.exists()
    # The marks stay (a mark never moves down): a view given an id at or below one is
    # rolled up by its own insert.
    assert _mark(tenant.pk) == mark
    again = MaterialViewFactory(tenant=tenant, rep=rep, material=deck, viewed_at=at)
    assert again.pk <= mark
    assert _days(tenant.pk) == {(rep.pk, at.date()): 1}
    _assert_in_step(tenant.pk)


def test_a_fold_moves_the_mark_batch_by_batch_and_then_finds_nothing(tenant, world):
    rows = [
        _row(f"e{i}", "deck" if i % 2 else "sheet", f"2026-03-0{1 + i}T10:00:00Z") for i in range(5)
    ]
    material_views_ingest(tenant=tenant, rows=list(enumerate(rows)))
    ids = sorted(MaterialView._base_manager.filter(tenant=tenant).values_list("pk", flat=True))
    assert _fold(tenant.pk, batch=2) == 5
    assert _mark(tenant.pk) == ids[-1]
    assert _fold(tenant.pk) == 0
    _assert_in_step(tenant.pk)
    # The other tenant's views are not this tenant's to fold.
    assert _mark(world["other"].tenant_id) == 0
    with pytest.raises(ValueError):
        _fold(tenant.pk, batch=0)


def test_writes_below_the_mark_change_the_roll_ups_at_once_and_above_it_never(tenant, world):
    rep, deck, sheet = world["rep"], world["deck"], world["sheet"]
    at = dt.datetime(2026, 5, 10, 12, tzinfo=UTC)
    folded = [
        MaterialViewFactory(
            tenant=tenant, rep=rep, material=deck, viewed_at=at + dt.timedelta(hours=h)
        )
        for h in range(3)
    ]
    _fold(tenant.pk)
    above = MaterialViewFactory(tenant=tenant, rep=rep, material=sheet, viewed_at=at)
    rolled_up = _days(tenant.pk), _spans(tenant.pk)
    # Above the mark: an update and a delete leave the roll-ups as they are.
    MaterialView._base_manager.filter(pk=above.pk).update(viewed_at=at - dt.timedelta(days=9))
    assert (_days(tenant.pk), _spans(tenant.pk)) == rolled_up
    MaterialView._base_manager.filter(pk=above.pk).delete()
    assert (_days(tenant.pk), _spans(tenant.pk)) == rolled_up
    # A view given an id at or below the mark (a hole left by a deletion) is rolled up by
    # its own insert.
    hole = folded[1]
    MaterialView._base_manager.filter(pk=hole.pk).delete()
    assert _days(tenant.pk)[(rep.pk, at.date())] == 2
    MaterialViewFactory(
        id=hole.pk, tenant=tenant, rep=rep, material=sheet, viewed_at=at + dt.timedelta(days=1)
    )
    assert _days(tenant.pk)[(rep.pk, (at + dt.timedelta(days=1)).date())] == 1
    assert (rep.pk, sheet.pk) in _spans(tenant.pk)
    _assert_in_step(tenant.pk)


@pytest.mark.django_db(transaction=True)
def test_a_writer_whose_rows_a_fold_did_not_see_rolls_them_up_itself(tenant, world):
    """A statement still inserting when a fold takes the lock: its rows are not in the
    fold's snapshot, and the fold moves the mark past them (a later view committed first).
    Its trigger then waits for the fold to commit, reads the new mark and rolls its own
    rows up."""
    rep, deck = world["rep"], world["deck"]
    at = dt.datetime(2026, 6, 1, 9, tzinfo=UTC)
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('activities_materialview', 'id'))")
        (early_id,) = cursor.fetchone()
    errors: list[BaseException] = []

    def slow_insert():
        with tenant_scope(tenant), transaction.atomic(), connection.cursor() as cursor:
            # The row is inserted after 1.5 s, and the statement's trigger runs after that.
            cursor.execute(
                "INSERT INTO activities_materialview (id, tenant_id, rep_id, material_id,"
                " viewed_at, duration_seconds, source, event_id, ingested_at)"
                " SELECT %s, %s, %s, %s, %s, 0, '', 'early', now() FROM pg_sleep(1.5)",
                [early_id, tenant.pk, rep.pk, deck.pk, at],
            )

    writer = on_another_connection(slow_insert, errors)
    later = MaterialViewFactory(tenant=tenant, rep=rep, material=deck, viewed_at=at)
    assert later.pk > early_id
    with transaction.atomic():
        assert _fold(tenant.pk) == 1  # only the later view: the early one is not visible
        # The fold's transaction stays open while the writer's row goes in and its trigger
        # runs: the trigger must wait for the fold before it reads the mark.
        writer.join(2.5)
        assert writer.is_alive()
    assert _mark(tenant.pk) == later.pk
    writer.join(20)
    assert not errors, errors
    assert _days(tenant.pk)[(rep.pk, at.date())] == 2  # no fold since: the writer's own
    _assert_in_step(tenant.pk)


@pytest.mark.django_db(transaction=True)
def test_a_fold_waits_for_writers_in_flight_and_gives_up_without_harm(tenant, world):
    rep, deck = world["rep"], world["deck"]
    at = dt.datetime(2026, 6, 1, 9, tzinfo=UTC)
    MaterialViewFactory(tenant=tenant, rep=rep, material=deck, viewed_at=at)
    errors: list[BaseException] = []
    with _uncommitted_view(errors, tenant=tenant, rep=rep, material=deck, viewed_at=at):
        # A fold out of patience stops with nothing added, and moves no mark.
        impatient: list[int] = []
        gives_up = on_another_connection(
            lambda: impatient.append(_fold(tenant.pk, patience=0.2)), errors
        )
        gives_up.join(10)
        assert impatient == [0]
        assert _mark(tenant.pk) == 0
        patient = on_another_connection(lambda: _fold(tenant.pk), errors)
        patient.join(1)
        assert patient.is_alive(), "it should wait for the writer"
    patient.join(20)
    assert not errors, errors
    assert _mark(tenant.pk) == MaterialView._base_manager.latest("pk").pk
    _assert_in_step(tenant.pk)


def test_a_caught_up_fold_moves_the_mark_past_every_tenants_views(tenant, other_tenant, world):
    """Ids come from one sequence: a fold that has caught up moves the mark to its last
    value, so the views above a tenant's mark are not every later view of the others."""
    rep, deck = world["rep"], world["deck"]
    at = dt.datetime(2026, 6, 1, 9, tzinfo=UTC)
    MaterialViewFactory(tenant=tenant, rep=rep, material=deck, viewed_at=at)
    later = [
        MaterialViewFactory(
            tenant=other_tenant, rep__tenant=other_tenant, rep__partner__tenant=other_tenant
        )
        for _ in range(3)
    ]
    assert _fold(tenant.pk) == 1
    assert _mark(tenant.pk) == later[-1].pk
    # An idle tenant's mark moves too, with nothing to roll up.
    idle = Tenant._base_manager.create(name="Idle", slug="idle")
    assert _fold(idle.pk) == 0
    assert _mark(idle.pk) == later[-1].pk
    _assert_in_step(tenant.pk)
    _assert_in_step(other_tenant.pk)


def test_a_fold_of_a_tenant_out_of_scope_is_refused_under_the_wall(tenant, other_tenant, world):
    """Under the wall a fold would see none of another tenant's views and move its mark
    past them: the database refuses it."""
    from django.db import ProgrammingError

    from tests.hardening.conftest import acting_as_app_role

    MaterialViewFactory(
        tenant=other_tenant, rep__tenant=other_tenant, rep__partner__tenant=other_tenant
    )
    MaterialViewFactory(tenant=tenant, rep=world["rep"], material=world["deck"])
    with acting_as_app_role(), tenant_scope(tenant):
        with pytest.raises(ProgrammingError, match="outside its scope"), transaction.atomic():
            view_rollups_fold(tenant=other_tenant)
        assert view_rollups_fold(tenant=tenant) == 1  # its own
    assert _mark(other_tenant.pk) == 0
    _assert_in_step(tenant.pk)
    _assert_in_step(other_tenant.pk)


@pytest.mark.django_db(transaction=True)
def test_a_run_reads_the_mark_of_its_own_snapshot(tenant, world, monkeypatch):
    """A fold that commits between the run's read of the mark and its statement: the views
    it rolled up are counted once (the statement reads the mark again)."""
    from segmentation.models import RepSegment, SegmentationRun
    from segmentation.selectors import segmentation_settings_get
    from segmentation.services import segments

    rep, deck, sheet = world["rep"], world["deck"], world["sheet"]
    at = timezone.now() - dt.timedelta(days=3)
    MaterialViewFactory(tenant=tenant, rep=rep, material=deck, viewed_at=at)
    _fold(tenant.pk)
    stale = _mark(tenant.pk)
    for h in range(3):
        MaterialViewFactory(
            tenant=tenant, rep=rep, material=sheet, viewed_at=at + dt.timedelta(hours=h)
        )
    _fold(tenant.pk)
    assert _mark(tenant.pk) > stale
    monkeypatch.setattr(segments, "view_rollups_mark", lambda *, tenant_id: stale)
    found = {}
    with tenant_scope(tenant):
        config = segmentation_settings_get(tenant=tenant)
        for rollups in (True, False):
            with transaction.atomic():
                run = SegmentationRun.objects.create(
                    tenant=tenant,
                    as_of=timezone.now(),
                    as_of_date=timezone.localdate(),
                    status=SegmentationRun.Status.RUNNING,
                )
                segments.write_rep_segments(
                    run=run, config=config, previous_run_id=None, rollups=rollups
                )
                found[rollups] = list(
                    RepSegment.objects.filter(run=run, rep=rep).values_list(
                        "views", "distinct_materials", "last_viewed_at"
                    )
                )
    assert found[True] == found[False] == [(4, 2, at + dt.timedelta(hours=2))]


def test_beat_folds_every_active_tenant(tenant, other_tenant, world):
    from activities.tasks import view_rollups_fold_all

    material_views_ingest(
        tenant=tenant, rows=list(enumerate([_row("a", "deck", "2026-03-01T10:00:00Z")]))
    )
    idle = Tenant._base_manager.create(name="Idle", slug="idle", is_active=False)
    assert view_rollups_fold_all() == 2  # eager in the tests: folded already
    for t in (tenant.pk, other_tenant.pk):
        last = MaterialView._base_manager.filter(tenant_id=t).latest("pk").pk
        assert _mark(t) >= last
    assert _mark(idle.pk) == 0
    _assert_in_step(tenant.pk)
