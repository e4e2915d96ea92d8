"""The move out of enablement keeps every row, its content types and its audit trail.

The feature apps' 0001 migrations adopt the enablement tables without touching the
database and ``enablement/migrations/0010_moved_out.py`` forgets the models there and
relabels content types and audit events. This test migrates a database back to before the
move, writes one row into every moved table with the models of that time, migrates forward
again and checks that nothing was lost and that the schema is what the new models expect.

Migrations run as the tables' owner (the suite's database user), with the tenant wall
lifted by the ``pre_migrate`` / ``post_migrate`` receivers, exactly as ``manage.py
migrate`` runs them; row-level security as the application's role is tests/hardening's.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.apps import apps as global_apps
from django.contrib.contenttypes.models import ContentType
from django.core.management.sql import emit_post_migrate_signal, emit_pre_migrate_signal
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone

from pse_crm.models import AuditEvent
from tests.activities.factories import DealFactory, MaterialViewFactory
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db(transaction=True)

NEW_APPS = ("segmentation", "knowhow", "support", "deal_signals", "momentum")
BEFORE_MOVE = ("enablement", "0009_partnersegment_tier_counts")


def _applied_state():
    """The project state of the migrations the database has applied."""
    loader = MigrationLoader(connection)
    return loader.project_state(list(loader.applied_migrations))


def _migrate(targets) -> MigrationExecutor:
    """Apply or unapply to ``targets`` the way ``manage.py migrate`` does, with its
    signals (the tenant wall lifted meanwhile; content types of the models of the end
    state created)."""
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(targets)
    state = _applied_state()
    emit_pre_migrate_signal(0, False, connection.alias, apps=state.apps, plan=plan)
    executor.migrate(targets, plan=plan, state=state.clone())
    # Not the executor's returned state: after unapplying, it still holds the models of
    # the last migration unapplied.
    emit_post_migrate_signal(0, False, connection.alias, apps=_applied_state().apps, plan=plan)
    return MigrationExecutor(connection)


def _leaves(executor: MigrationExecutor) -> list[tuple[str, str]]:
    return executor.loader.graph.leaf_nodes()


def _state_before_move(executor: MigrationExecutor):
    nodes = [n for n in _leaves(executor) if n[0] not in (*NEW_APPS, "enablement")]
    return executor.loader.project_state([*nodes, BEFORE_MOVE]).apps


def _base_rows() -> dict:
    """A tenant with a member, a deal and a view: today's models (their tables never move).
    Creating the tenant stores its deal-signal rules (deal_signals.receivers)."""
    deal = DealFactory()
    view = MaterialViewFactory(tenant=deal.tenant, rep=deal.rep, material__tenant=deal.tenant)
    user = MembershipFactory(tenant=deal.tenant).user
    return {"deal": deal, "view": view, "user": user}


def _write_one_row_per_moved_table(old_apps, base: dict) -> list[int]:
    """A row in every moved table (signal rules exist already), written with the models of
    the time (enablement's); returns the ids of the audit events written."""

    def create(name: str, **values):
        return old_apps.get_model("enablement", name)._base_manager.create(**values)

    deal, view, user = base["deal"], base["view"], base["user"]
    tenant, rep, partner = deal.tenant, deal.rep, deal.partner
    now = timezone.now()
    today = now.date()
    t = {"tenant_id": tenant.pk}

    create("SegmentationSettings", **t, updated_by_id=user.pk)
    run = create("SegmentationRun", **t, as_of=now, as_of_date=today, status="succeeded")
    create("RepSegment", **t, run=run, rep_id=rep.pk, partner_id=partner.pk, quadrant="motivated")
    create("PartnerSegment", **t, run=run, partner_id=partner.pk, reps=1, top_reps=1)
    hearing = create("Hearing", **t, rep_id=rep.pk, held_on=today, held_by_id=user.pk, tags=["x"])
    know_how = create("KnowHow", **t, title="Open with the case study", created_by_id=user.pk)
    create("KnowHowSource", **t, know_how=know_how, hearing=hearing)
    create("KnowHowShare", **t, know_how=know_how, partner_id=partner.pk, shared_on=today)
    task = create(
        "SupportTask",
        **t,
        rep_id=rep.pk,
        assignee_id=user.pk,
        deal_id=deal.pk,
        kind="accompany",
        title="Join the customer meeting",
        due_on=today + dt.timedelta(days=7),
    )
    create(
        "SupportTaskTransition",
        **t,
        task=task,
        from_status="open",
        to_status="in_progress",
        changed_at=now,
    )
    create("SupportTaskComment", **t, task=task, author_id=user.pk, body="Booked.")
    create(
        "QuickWin",
        **t,
        task=task,
        started_on=today,
        window_days=30,
        outcome="won",
        won_deal_id=deal.pk,
        computed_at=now,
    )
    signal = create(
        "DealSignal",
        **t,
        rep_id=rep.pk,
        partner_id=partner.pk,
        kind="burst",
        view_count=1,
        first_viewed_at=now,
        last_viewed_at=now,
        expires_at=now + dt.timedelta(days=7),
        support_task=task,
    )
    create("DealSignalView", **t, signal=signal, view_id=view.pk, kind="burst")
    create("NotificationPreference", **t, user_id=user.pk, email="digest")
    create("Notification", **t, user_id=user.pk, signal=signal)
    create("SignalEvaluationBacklog", **t, rep_ids=[rep.pk])
    week = today - dt.timedelta(days=today.weekday())
    iso = week.isocalendar()
    create(
        "MomentumSnapshot",
        **t,
        partner_id=partner.pk,
        week_start=week,
        iso_year=iso.year,
        iso_week=iso.week,
        reps=1,
        active_reps=1,
        computed_at=now,
    )
    # Admin history and permissions hang on the content type; the audit trail on the label.
    ct_model = old_apps.get_model("contenttypes", "ContentType")
    ct, _ = ct_model.objects.get_or_create(app_label="enablement", model="supporttask")
    old_apps.get_model("auth", "Permission").objects.get_or_create(
        content_type=ct, codename="view_supporttask", defaults={"name": "Can view support task"}
    )
    return [
        old_apps.get_model("pse_crm", "AuditEvent")
        ._base_manager.create(
            **t,
            actor_id=user.pk,
            actor_label=user.email,
            action="update",
            model_label=label,
            object_id=str(object_id),
            object_repr=label,
        )
        .pk
        for label, object_id in (
            ("enablement.SupportTask", task.pk),
            ("partners.Partner", partner.pk),
        )
    ]


def _rows(model, names: list[str]) -> list[dict]:
    return list(model._base_manager.order_by("pk").values(*names))


def _columns(model) -> list[str]:
    return [f.attname for f in model._meta.concrete_fields]


def _schema_problems(model) -> list[str]:
    """What the database lacks of what ``model`` (its table, columns, keys, indexes) needs."""
    meta = model._meta
    table = meta.db_table
    with connection.cursor() as cursor:
        if table not in connection.introspection.table_names(cursor):
            return [f"{meta.label}: no table {table}"]
        columns = {c.name: c for c in connection.introspection.get_table_description(cursor, table)}
        found = connection.introspection.get_constraints(cursor, table)
    problems = []
    fields = meta.concrete_fields
    expected = {f.column for f in fields}
    if set(columns) != expected:
        problems.append(f"{table}: columns {sorted(set(columns) ^ expected)} differ")
    by_columns: dict[tuple, list[dict]] = {}
    for info in found.values():
        by_columns.setdefault(tuple(info["columns"]), []).append(info)
    for f in fields:
        if f.column in columns and bool(columns[f.column].null_ok) != f.null:
            problems.append(f"{table}.{f.column}: null is {columns[f.column].null_ok}")
        on_column = by_columns.get((f.column,), [])
        if f.primary_key:
            ok = any(c["primary_key"] for c in on_column)
        elif f.remote_field and f.db_constraint:
            target = (f.related_model._meta.db_table, f.target_field.column)
            ok = any(c["foreign_key"] == target for c in on_column)
            if f.db_index and not f.unique:
                ok = ok and any(c["index"] for c in on_column)
        elif f.unique:
            ok = any(c["unique"] for c in on_column)
        elif f.db_index:
            ok = any(c["index"] for c in on_column)
        else:
            ok = True
        if not ok:
            problems.append(f"{table}.{f.column}: key or index missing")
    for name in [i.name for i in meta.indexes] + [c.name for c in meta.constraints]:
        if name not in found:
            problems.append(f"{table}: no index or constraint {name}")
    return problems


def test_moving_the_models_out_of_enablement_keeps_rows_labels_and_schema():
    base = _base_rows()
    executor = MigrationExecutor(connection)
    try:
        # Before the move: the new apps at zero, enablement at 0009.
        executor = _migrate([BEFORE_MOVE] + [(app, None) for app in NEW_APPS])
        old_apps = _state_before_move(executor)
        old_models = {
            m._meta.model_name: m
            for m in old_apps.get_models()
            if m._meta.app_label == "enablement"
        }
        audit_ids = _write_one_row_per_moved_table(old_apps, base)
        before = {name: _rows(model, _columns(model)) for name, model in old_models.items()}
        ct_id = ContentType.objects.get(app_label="enablement", model="supporttask").pk

        executor = _migrate(_leaves(executor))
    finally:
        # Never leave the shared test database before the move.
        _migrate(_leaves(MigrationExecutor(connection)))

    new_state = executor.loader.project_state(_leaves(executor)).apps
    # Models added after the move (knowhow's KnowHowEffect, …) have tables of their own
    # app; the moved ones keep their enablement_* tables.
    moved = {
        m._meta.model_name: m
        for m in global_apps.get_models()
        if m._meta.app_label in NEW_APPS and m._meta.db_table.startswith("enablement_")
    }
    # Every model of the old app lives in a feature app now, on the same table.
    assert set(moved) == set(old_models)
    assert not [m for m in new_state.get_models() if m._meta.app_label == "enablement"]
    for name, model in moved.items():
        assert model._meta.db_table == old_models[name]._meta.db_table
        # The database has what today's models and the migrations' state describe.
        state_model = new_state.get_model(model._meta.app_label, name)
        assert _schema_problems(model) + _schema_problems(state_model) == []
        # The same rows, read by today's models (and so the same count per table); fields
        # added by later migrations have their defaults and are left out.
        assert before[name], name
        assert _rows(model, _columns(old_models[name])) == before[name], name

    # Content types (and the permissions on them) moved with their models.
    ContentType.objects.clear_cache()
    assert not ContentType.objects.filter(app_label="enablement", model__in=list(moved)).exists()
    task_model = global_apps.get_model("support", "SupportTask")
    assert ContentType.objects.get_for_model(task_model).pk == ct_id
    for model in moved.values():
        assert ContentType.objects.get_for_model(model).app_label == model._meta.app_label
    assert (
        global_apps.get_model("auth", "Permission")
        .objects.filter(content_type_id=ct_id, codename="view_supporttask")
        .exists()
    )
    # The audit trail names the new home; other labels are left alone.
    labels = AuditEvent._base_manager.filter(pk__in=audit_ids).order_by("pk")
    assert list(labels.values_list("model_label", flat=True)) == [
        "support.SupportTask",
        "partners.Partner",
    ]
