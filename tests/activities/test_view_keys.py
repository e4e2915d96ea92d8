"""No view ever names a rep, material or tenant that does not exist (or is another tenant's).

The view table carries no foreign keys (activities migration 0011): statement-level
triggers keep the guarantee. Every path is tried: the ingestion service, the ORM (create,
bulk_create, update), raw SQL, deletions that bypass Django's PROTECT, re-keying, TRUNCATE,
and the races between a writer and a remover.
"""

from __future__ import annotations

import datetime as dt
import threading
from contextlib import contextmanager

import pytest
from django.db import IntegrityError, connection, connections, transaction
from django.db.models.deletion import ProtectedError

from activities.models import Material, MaterialView
from activities.services.material_views import material_views_ingest
from pse_crm.tenancy import tenant_scope
from reps.models import Rep
from tests.activities.factories import MaterialFactory, MaterialViewFactory
from tests.helpers import on_another_connection
from tests.reps.factories import RepFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the triggers are PostgreSQL's"),
]

AT = dt.datetime(2026, 6, 1, 9, tzinfo=dt.UTC)
MISSING = 987_654_321


@pytest.fixture
def world(tenant, other_tenant):
    rep = RepFactory(tenant=tenant, email="taro@sample.co.jp", partner__tenant=tenant)
    deck = MaterialFactory(tenant=tenant, external_id="deck")
    their_rep = RepFactory(tenant=other_tenant, partner__tenant=other_tenant)
    their_deck = MaterialFactory(tenant=other_tenant, external_id="their-deck")
    return {"rep": rep, "deck": deck, "their_rep": their_rep, "their_deck": their_deck}


# What is not there at once is checked at the commit, as a deferred foreign key is; a
# test's transaction never commits, so it asks for the checks now.
CHECK_NOW = (
    "SET CONSTRAINTS activities_views_keep_reps, activities_views_keep_materials,"
    " activities_views_keep_tenants, activities_views_keep_rep_keys,"
    " activities_views_keep_material_keys, activities_views_keep_tenant_keys,"
    " activities_view_keys_pending IMMEDIATE"
)


@contextmanager
def refused(match: str | None = None):
    """The block's writes are refused by the time its transaction would commit."""
    with pytest.raises(IntegrityError, match=match), transaction.atomic():
        yield
        with connection.cursor() as cursor:
            cursor.execute(CHECK_NOW)


def _views() -> int:
    return MaterialView._base_manager.count()


def _raw_insert(tenant_id: int, rep_id: int, material_id: int, event: str = "raw") -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO activities_materialview (tenant_id, rep_id, material_id, viewed_at,"
            " duration_seconds, source, event_id, ingested_at)"
            " VALUES (%s, %s, %s, %s, 0, '', %s, now())",
            [tenant_id, rep_id, material_id, AT, event],
        )


@pytest.mark.parametrize(
    "keys",
    [
        pytest.param(lambda w, t: (t.pk, MISSING, w["deck"].pk), id="missing-rep"),
        pytest.param(lambda w, t: (t.pk, w["rep"].pk, MISSING), id="missing-material"),
        pytest.param(lambda w, t: (MISSING, w["rep"].pk, w["deck"].pk), id="missing-tenant"),
        pytest.param(lambda w, t: (t.pk, w["their_rep"].pk, w["deck"].pk), id="their-rep"),
        pytest.param(lambda w, t: (t.pk, w["rep"].pk, w["their_deck"].pk), id="their-material"),
    ],
)
def test_raw_sql_cannot_insert_an_orphan(tenant, world, keys):
    before = _views()
    with refused("does not exist in the tenant"):
        _raw_insert(*keys(world, tenant))
    assert _views() == before


def test_one_orphan_refuses_the_whole_statement(tenant, world):
    rows = [(tenant.pk, world["rep"].pk, world["deck"].pk, f"ok-{i}") for i in range(50)]
    rows.append((tenant.pk, MISSING, world["deck"].pk, "orphan"))
    with refused(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO activities_materialview (tenant_id, rep_id, material_id, viewed_at,"
            " duration_seconds, source, event_id, ingested_at)"
            " SELECT t, r, m, %s, 0, '', e, now()"
            " FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::text[]) AS u(t, r, m, e)",
            [AT, *map(list, zip(*rows, strict=True))],
        )
    assert _views() == 0


def test_the_orm_cannot_write_an_orphan(tenant, world):
    with tenant_scope(tenant):
        with refused():
            MaterialView.objects.create(
                rep_id=MISSING, material=world["deck"], viewed_at=AT, event_id="a"
            )
        with refused():
            MaterialView.objects.bulk_create(
                [
                    MaterialView(
                        rep=world["rep"], material=world["deck"], viewed_at=AT, event_id="b"
                    ),
                    MaterialView(
                        rep=world["their_rep"], material=world["deck"], viewed_at=AT, event_id="c"
                    ),
                ]
            )
        view = MaterialViewFactory(tenant=tenant, rep=world["rep"], material=world["deck"])
        with refused():
            MaterialView.objects.filter(pk=view.pk).update(material_id=world["their_deck"].pk)
        view.refresh_from_db()
        assert view.material_id == world["deck"].pk
        assert MaterialView.objects.count() == 1


def test_the_ingestion_stores_views_of_known_keys(tenant, world):
    rows = [
        {"event_id": f"e{i}", "rep_email": "taro@sample.co.jp", "material_external_id": "deck",
         "viewed_at": "2026-06-01T10:00:00+09:00"}
        for i in range(3)
    ]  # fmt: skip
    result = material_views_ingest(tenant=tenant, rows=list(enumerate(rows)))
    assert result.created == 3
    with tenant_scope(tenant):
        assert set(MaterialView.objects.values_list("rep_id", "material_id")) == {
            (world["rep"].pk, world["deck"].pk)
        }


@pytest.mark.parametrize("table,key", [("reps_rep", "rep"), ("activities_material", "deck")])
def test_a_named_rep_or_material_cannot_be_removed_or_rekeyed(
    tenant, other_tenant, world, table, key
):
    MaterialViewFactory(tenant=tenant, rep=world["rep"], material=world["deck"])
    pk = world[key].pk
    for sql in (
        f"DELETE FROM {table} WHERE id = %s",
        f"UPDATE {table} SET id = id + 1000000 WHERE id = %s",
        f"UPDATE {table} SET tenant_id = {int(other_tenant.pk)} WHERE id = %s",
    ):
        with (
            pytest.raises(IntegrityError, match="views name"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [pk])
            cursor.execute(CHECK_NOW)
    with (
        pytest.raises(IntegrityError, match="cannot be truncated"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending events: TRUNCATE
        cursor.execute(f"TRUNCATE {table} CASCADE")
    assert Rep._base_manager.filter(pk=world["rep"].pk).exists()
    assert Material._base_manager.filter(pk=world["deck"].pk).exists()
    # Django's PROTECT still answers first, as before.
    with pytest.raises(ProtectedError), tenant_scope(tenant):
        world[key].delete()


def test_a_named_tenant_cannot_be_removed(tenant, world):
    MaterialViewFactory(tenant=tenant, rep=world["rep"], material=world["deck"])
    with (
        pytest.raises(IntegrityError, match="views name"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        # Every other table's foreign keys stay deferred: only the views' check objects.
        cursor.execute("DELETE FROM pse_crm_tenant WHERE id = %s", [tenant.pk])
        cursor.execute(CHECK_NOW)


def test_unnamed_keys_are_removed_freely(tenant, world):
    """The removal checks look at the removed keys only: another rep with views stays
    protected, a rep without views goes."""
    MaterialViewFactory(tenant=tenant, rep=world["rep"], material=world["deck"])
    idle = RepFactory(tenant=tenant, partner=world["rep"].partner)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM reps_rep WHERE id = %s", [idle.pk])
        assert cursor.rowcount == 1
        cursor.execute(CHECK_NOW)


def test_a_view_may_come_before_what_it_names_in_one_transaction(tenant, world):
    """A restore inserts rows in any order: a view naming a rep created later in the same
    transaction passes the check at the commit."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('reps_rep', 'id'))")
        (later,) = cursor.fetchone()
        _raw_insert(tenant.pk, later, world["deck"].pk, "early")
        RepFactory(id=later, tenant=tenant, partner=world["rep"].partner)
        cursor.execute(CHECK_NOW)
        cursor.execute("SELECT count(*) FROM activities_view_keys_pending")
        assert cursor.fetchone() == (0,)
    assert MaterialView._base_manager.filter(rep_id=later).count() == 1


def test_views_and_what_they_name_may_go_in_any_order(tenant, world):
    """Checked at the commit, like a foreign key: a material removed before its views in
    the same transaction (as a tenant's deletion may) is no orphan once both are gone."""
    MaterialViewFactory(tenant=tenant, rep=world["rep"], material=world["deck"])
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM activities_material WHERE id = %s", [world["deck"].pk])
        cursor.execute(
            "DELETE FROM activities_materialview WHERE material_id = %s", [world["deck"].pk]
        )
        cursor.execute(CHECK_NOW)
    assert not Material._base_manager.filter(pk=world["deck"].pk).exists()


def test_the_removal_check_sees_views_the_scope_hides(tenant, other_tenant, world):
    """A removal of a rep from inside another tenant's scope as the app role: the wall
    hides both the rep and its views, so nothing is removed; and with the wall lifted
    (all tenants), the views still protect it."""
    from pse_crm.tenancy import all_tenants
    from tests.hardening.conftest import acting_as_app_role

    MaterialViewFactory(tenant=tenant, rep=world["rep"], material=world["deck"])
    with acting_as_app_role():
        with tenant_scope(other_tenant), connection.cursor() as cursor:
            cursor.execute("DELETE FROM reps_rep WHERE id = %s", [world["rep"].pk])
            assert cursor.rowcount == 0
        with (
            pytest.raises(IntegrityError, match="views name"),
            all_tenants(),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute("DELETE FROM reps_rep WHERE id = %s", [world["rep"].pk])
            cursor.execute(CHECK_NOW)


def test_the_checks_pass_the_tenant_wall_as_the_application_role(tenant, world):
    """The app role (no BYPASSRLS, no ownership) ingests; a view naming another tenant's
    rep is refused to it as well."""
    from tests.hardening.conftest import acting_as_app_role

    rows = [{"event_id": "a", "rep_email": "taro@sample.co.jp", "material_external_id": "deck",
             "viewed_at": "2026-06-01T10:00:00Z"}]  # fmt: skip
    with acting_as_app_role(), tenant_scope(tenant):
        assert material_views_ingest(tenant=tenant, rows=list(enumerate(rows))).created == 1
        with refused():
            _raw_insert(tenant.pk, world["their_rep"].pk, world["deck"].pk, "b")
        assert MaterialView.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_an_insert_racing_a_removal_never_leaves_an_orphan(tenant, world):
    """A rep deleted (uncommitted) while a view naming it is inserted: the insert waits for
    the delete and then fails. The other way round: the delete waits for the insert to
    commit, then fails."""
    rep, deck = world["rep"], world["deck"]
    errors: list[BaseException] = []
    deleted, finish = threading.Event(), threading.Event()

    def delete_rep():
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("DELETE FROM reps_rep WHERE id = %s", [rep.pk])
                deleted.set()
                finish.wait(10)
        except BaseException as exc:
            errors.append(exc)
            deleted.set()
        finally:
            connections.close_all()

    remover = threading.Thread(target=delete_rep)
    remover.start()
    assert deleted.wait(10)
    inserter = on_another_connection(lambda: _raw_insert(tenant.pk, rep.pk, deck.pk), errors)
    inserter.join(1)
    assert inserter.is_alive(), "the insert should wait for the uncommitted delete"
    finish.set()
    remover.join(20)
    inserter.join(20)
    assert len(errors) == 1 and isinstance(errors[0], IntegrityError), errors
    assert _views() == 0

    # The other way round.
    rep2 = RepFactory(tenant=tenant, partner=rep.partner)
    errors.clear()
    inserted, finish = threading.Event(), threading.Event()

    def insert_view():
        try:
            with transaction.atomic():
                _raw_insert(tenant.pk, rep2.pk, deck.pk, "second")
                inserted.set()
                finish.wait(10)
        except BaseException as exc:
            errors.append(exc)
            inserted.set()
        finally:
            connections.close_all()

    writer = threading.Thread(target=insert_view)
    writer.start()
    assert inserted.wait(10)

    def delete_rep2():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM reps_rep WHERE id = %s", [rep2.pk])

    remover = on_another_connection(delete_rep2, errors)
    remover.join(1)
    assert remover.is_alive(), "the delete should wait for the uncommitted insert"
    finish.set()
    writer.join(20)
    remover.join(20)
    assert len(errors) == 1 and isinstance(errors[0], IntegrityError), errors
    assert Rep._base_manager.filter(pk=rep2.pk).exists()
    assert MaterialView._base_manager.filter(rep_id=rep2.pk).count() == 1
