"""The views' roll-ups (RepViewDay, RepMaterialSpan), kept by PostgreSQL triggers.

Whatever writes the views (the ingestion service, the ORM, a deletion, an update), the
roll-ups must equal what the views say: checked against an aggregate of the views.
"""

from __future__ import annotations

import datetime as dt
import importlib
import threading
from contextlib import contextmanager

import pytest
from django.db import connection, connections, transaction

from activities.models import MaterialView, RepMaterialSpan, RepViewDay
from activities.services.material_views import material_views_ingest
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


def _expected(tenant_id: int) -> tuple[dict, dict]:
    """The roll-ups computed from the views, in Python."""
    days: dict = {}
    spans: dict = {}
    for rep, material, at in MaterialView._base_manager.filter(tenant_id=tenant_id).values_list(
        "rep_id", "material_id", "viewed_at"
    ):
        key = (rep, at.astimezone(UTC).date())
        days[key] = days.get(key, 0) + 1
        first, last = spans.get((rep, material), (at, at))
        spans[(rep, material)] = (min(first, at), max(last, at))
    return days, spans


def _assert_in_step(tenant_id: int) -> None:
    days, spans = _expected(tenant_id)
    assert _days(tenant_id) == days
    assert _spans(tenant_id) == spans


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
    assert _days(tenant.pk)[(rep.pk, dt.date(2026, 3, 1))] == 2
    assert _days(tenant.pk)[(rep.pk, dt.date(2026, 2, 27))] == 1
    assert _spans(tenant.pk)[(rep.pk, world["deck"].pk)][0] == dt.datetime(
        2026, 2, 27, 12, tzinfo=UTC
    )
    _assert_in_step(tenant.pk)
    # The other tenant's view is rolled up in its own tenant only.
    other = world["other"]
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
    before = _days(other.tenant_id), _spans(other.tenant_id)
    with all_tenants():
        tenant_delete(tenant=tenant)
    assert not RepViewDay._base_manager.filter(tenant_id=tenant.pk).exists()
    assert not RepMaterialSpan._base_manager.filter(tenant_id=tenant.pk).exists()
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
    kept = {t: (_days(t), _spans(t)) for t in (tenant.pk, world["other"].tenant_id)}
    migration = importlib.import_module("activities.migrations.0006_view_rollups")
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM activities_repviewday")
        cursor.execute("DELETE FROM activities_repmaterialspan")
        cursor.execute(migration.BACKFILL)
    assert {t: (_days(t), _spans(t)) for t in kept} == kept
    assert len(kept[tenant.pk][0]) == 2


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
    errors: list[BaseException] = []
    held = {"tenant": tenant, "rep": rep, "material": deck}
    with _uncommitted_view(errors, **held, viewed_at=at + dt.timedelta(hours=1)):
        # While the first insert is uncommitted: a second insert on the same keys, and the
        # deletion of another view of them. Both must wait for the first to commit.
        two = on_another_connection(
            lambda: MaterialViewFactory(**held, viewed_at=at + dt.timedelta(hours=2)), errors
        )
        three = on_another_connection(
            lambda: MaterialView._base_manager.filter(pk=doomed.pk).delete(), errors
        )
        two.join(1)
        three.join(1)
        assert two.is_alive() and three.is_alive(), "they should wait for the first writer"
    for thread in (two, three):
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
    MaterialViewFactory(tenant=tenant, rep=rep, material=deck, viewed_at=at)
    with connection.cursor() as cursor:
        # A restore with --disable-triggers, say: views the roll-ups never saw.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending events for ALTER
        cursor.execute("ALTER TABLE activities_materialview DISABLE TRIGGER USER")
        MaterialViewFactory(tenant=tenant, rep=rep, material=deck, viewed_at=at)
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE activities_materialview ENABLE TRIGGER USER")
    assert _days(tenant.pk)[(rep.pk, at.date())] == 1  # stale
    call_command("rebuild_view_rollups", tenant=tenant.slug)
    _assert_in_step(tenant.pk)
    _assert_in_step(world["other"].tenant_id)
    assert _days(tenant.pk)[(rep.pk, at.date())] == 2

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE activities_materialview CASCADE")
    assert not RepViewDay._base_manager.exists()
    assert not RepMaterialSpan._base_manager.exists()
