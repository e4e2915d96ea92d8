"""The views' roll-ups up to a mark, folded after the views are stored (issue 19).

Until now every insert of views upserted their rep-days and rep-material pairs in the same
statement (migrations 0006 and 0012). On the import's data each view is nearly its own
rep-day and pair, so a 300,000-view import upserted about 600,000 roll-up rows: more work
than storing the views, and what kept ``import_views`` at 2.2× its floor
(docs/performance.md).

Now each tenant's roll-ups hold exactly its views whose id is at most its mark
(``activities_viewrollupmark.folded_through``; no row: 0, none):

* an INSERT of views rolls up only those at or below the mark (an id given explicitly, or
  a writer that a fold did not see: below). A new view's id comes from the sequence, above
  every mark, so storing views writes no roll-up at all;
* ``activities_views_rollup_fold(tenant, batch)`` adds the tenant's views above the mark,
  at most ``batch`` of them in id order, and moves the mark to the last of them (beat runs
  it, ``activities.tasks.view_rollups_fold_all``); it takes the tenant's lock only when it
  is free, and otherwise returns -1 to be called again;
* an UPDATE or DELETE rebuilds the keys it touched from the views at or below the mark
  (``activities_views_rollup_rebuild``, as before otherwise);
* a TRUNCATE of the views empties the roll-ups (migration 0006) and keeps the marks: no
  view is at or below them then, and one inserted there later (``RESTART IDENTITY``) is
  rolled up by its own insert.

A mark never moves down (a fold, a rebuild and a caught-up fold only raise it), and it goes
with its tenant only. A reader takes the roll-ups and the views above the mark in one
statement, so in one snapshot, where every state a writer committed keeps the invariant:
no lock (the segmentation run, segmentation/services/sql.py).

Ids come from one sequence for every tenant: a fold that has caught up moves the mark to
the sequence's last value, so the views above a tenant's mark are its recent ones, not
every tenant's since its own last view. A fold checks that its tenant is the one in scope
(under the wall it would see no view of another and move that one's mark past them).

The protocol is migration 0006's tenant lock (pair 0x7011): every statement that inserts
views holds it shared from its AFTER trigger until it commits; a fold, a rebuild, an
update or a delete holds it exclusively. So a fold comes after the writers that read the
mark before it and rolled up what was theirs to, and a writer whose rows the fold's
snapshot did not show (still inserting when the fold took the lock) reads the new mark
after the fold commits and rolls up its own rows at or below it. No view is rolled up
twice or missed. (Each statement of a PL/pgSQL function takes a new snapshot under READ
COMMITTED.)

The marks are set to each tenant's last view id: the roll-ups held every view until now.
"""

import importlib

from django.db import migrations, models

ROLLUP_LOCK_CLASS = 0x7011

# The roll-up rows that ``{rows}`` (views, or a transition table: ``v``) bring, added to
# what is there: counts add up, spans widen (a span is rewritten only where they widen it).
_UPSERT = """
    INSERT INTO activities_repviewday AS d (tenant_id, day, rep_id, views)
    SELECT v.tenant_id, (v.viewed_at AT TIME ZONE 'UTC')::date, v.rep_id, count(*)
    FROM {rows} WHERE {where}
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (tenant_id, day, rep_id) DO UPDATE SET views = d.views + EXCLUDED.views;
    INSERT INTO activities_repmaterialspan AS s
        (tenant_id, rep_id, material_id, first_viewed_at, last_viewed_at)
    SELECT v.tenant_id, v.rep_id, v.material_id, min(v.viewed_at), max(v.viewed_at)
    FROM {rows} WHERE {where}
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (tenant_id, rep_id, material_id) DO UPDATE
    SET first_viewed_at = LEAST(s.first_viewed_at, EXCLUDED.first_viewed_at),
        last_viewed_at = GREATEST(s.last_viewed_at, EXCLUDED.last_viewed_at)
    WHERE EXCLUDED.first_viewed_at < s.first_viewed_at
       OR EXCLUDED.last_viewed_at > s.last_viewed_at;
"""

# An inserted view at or below its tenant's mark.
_BELOW_MARK = """new_views v JOIN activities_viewrollupmark mark
      ON mark.tenant_id = v.tenant_id AND v.id <= mark.folded_through"""

FORWARD = f"""
CREATE OR REPLACE FUNCTION activities_views_rollup_add() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- (ON CONFLICT DO NOTHING: only the rows actually inserted are in new_views.)
    IF NOT EXISTS (SELECT FROM new_views) THEN
        RETURN NULL;
    END IF;
    -- Held until commit, even when nothing is rolled up here: a fold waits for it.
    PERFORM pg_advisory_xact_lock_shared({ROLLUP_LOCK_CLASS}, t.tenant_id::integer)
    FROM (SELECT DISTINCT tenant_id FROM new_views ORDER BY tenant_id) t;
    -- (A new snapshot: the mark of a fold that committed while this statement waited.)
    IF NOT EXISTS (SELECT FROM {_BELOW_MARK}) THEN
        RETURN NULL;
    END IF;
    {_UPSERT.format(rows=_BELOW_MARK, where="TRUE")}
    RETURN NULL;
END
$$;

-- Roll up at most p_batch of the tenant's views above its mark, in id order, and move the
-- mark to the last of them. Returns how many were rolled up (0: none was above the mark),
-- or -1 at once if the tenant's lock is held (a writer in flight, a run reading the
-- roll-ups): a fold never queues for the lock, so nothing queues behind it (PostgreSQL
-- makes a request wait behind a conflicting one that waits) and a run never holds up the
-- tenant's writers.
CREATE FUNCTION activities_views_rollup_fold(p_tenant integer, p_batch integer)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    after bigint;
    through bigint;
    folded bigint;
BEGIN
    -- Under the tenant wall a fold sees only the views of the tenant in scope: one for
    -- another tenant would find none and move its mark past views it never rolled up.
    IF NOT (
        coalesce(current_setting('app.all_tenants', true), '') = 'on'
        OR coalesce(current_setting('app.tenant_id', true), '') = p_tenant::text
        OR (SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user)
    ) THEN
        RAISE EXCEPTION 'a fold of tenant % outside its scope', p_tenant
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NOT pg_try_advisory_xact_lock({ROLLUP_LOCK_CLASS}, p_tenant) THEN
        RETURN -1;
    END IF;
    after := COALESCE(
        (SELECT folded_through FROM activities_viewrollupmark WHERE tenant_id = p_tenant), 0
    );
    SELECT max(id), count(*) INTO through, folded FROM (
        SELECT id FROM activities_materialview
        WHERE tenant_id = p_tenant AND id > after ORDER BY id LIMIT p_batch
    ) batch;
    IF folded > 0 THEN
        {_UPSERT.format(
            rows="activities_materialview v",
            where="v.tenant_id = p_tenant AND v.id > after AND v.id <= through",
        )}
    END IF;
    IF folded < p_batch THEN
        -- Caught up: every view of the tenant up to the sequence's last value is rolled up
        -- now, or is a writer's still in flight, which rolls it up itself when it reads
        -- the mark. So the mark goes there: the views above it are then the tenant's
        -- recent ones only, where the ids of every tenant's views since would be.
        through := GREATEST(
            COALESCE(through, after),
            COALESCE(pg_sequence_last_value(
                pg_get_serial_sequence('activities_materialview', 'id')::regclass
            ), 0)
        );
    END IF;
    IF through > after THEN
        INSERT INTO activities_viewrollupmark (tenant_id, folded_through)
        VALUES (p_tenant, through)
        ON CONFLICT (tenant_id) DO UPDATE SET folded_through = EXCLUDED.folded_through;
    END IF;
    RETURN folded;
END
$$;

-- Rebuild the roll-up rows of the keys in the temporary table _rollup_keys
-- (tenant_id, rep_id, material_id, day) from the views stored now at or below the mark.
CREATE OR REPLACE FUNCTION activities_views_rollup_rebuild() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock({ROLLUP_LOCK_CLASS}, t.tenant_id::integer)
    FROM (SELECT DISTINCT tenant_id FROM _rollup_keys ORDER BY tenant_id) t;
    DELETE FROM activities_repviewday d
    USING (SELECT DISTINCT tenant_id, day, rep_id FROM _rollup_keys) k
    WHERE d.tenant_id = k.tenant_id AND d.day = k.day AND d.rep_id = k.rep_id;
    INSERT INTO activities_repviewday (tenant_id, day, rep_id, views)
    SELECT k.tenant_id, k.day, k.rep_id, count(*)
    FROM (SELECT DISTINCT tenant_id, day, rep_id FROM _rollup_keys) k
    JOIN activities_viewrollupmark mark ON mark.tenant_id = k.tenant_id
    JOIN activities_materialview v
      ON v.tenant_id = k.tenant_id AND v.rep_id = k.rep_id
     AND v.viewed_at >= k.day::timestamp AT TIME ZONE 'UTC'
     AND v.viewed_at < (k.day + 1)::timestamp AT TIME ZONE 'UTC'
     AND v.id <= mark.folded_through
    GROUP BY 1, 2, 3;
    DELETE FROM activities_repmaterialspan s
    USING (SELECT DISTINCT tenant_id, rep_id, material_id FROM _rollup_keys) k
    WHERE s.tenant_id = k.tenant_id AND s.rep_id = k.rep_id AND s.material_id = k.material_id;
    INSERT INTO activities_repmaterialspan
        (tenant_id, rep_id, material_id, first_viewed_at, last_viewed_at)
    SELECT k.tenant_id, k.rep_id, k.material_id, min(v.viewed_at), max(v.viewed_at)
    FROM (SELECT DISTINCT tenant_id, rep_id, material_id FROM _rollup_keys) k
    JOIN activities_viewrollupmark mark ON mark.tenant_id = k.tenant_id
    JOIN activities_materialview v
      ON v.tenant_id = k.tenant_id AND v.rep_id = k.rep_id AND v.material_id = k.material_id
     AND v.id <= mark.folded_through
    GROUP BY 1, 2, 3;
    DROP TABLE _rollup_keys;
END
$$;

"""

# The roll-ups held every view: each tenant's mark is its last view. (``migrate`` lifts the
# tenant wall: ``pse_crm.rls.pre_migrate``.)
MARKS = """
INSERT INTO activities_viewrollupmark (tenant_id, folded_through)
SELECT tenant_id, max(id) FROM activities_materialview GROUP BY tenant_id;
"""


def _backward_sql() -> str:
    """The functions as they were, and the roll-ups of every view again."""
    m0006 = importlib.import_module("activities.migrations.0006_view_rollups")
    m0012 = importlib.import_module("activities.migrations.0012_ingest_floor")
    previous = m0006.FORWARD
    rebuild = previous[previous.index("CREATE FUNCTION activities_views_rollup_rebuild") :]
    rebuild = rebuild[: rebuild.index("CREATE FUNCTION activities_views_rollup_removed")]
    return (
        "DROP FUNCTION activities_views_rollup_fold(integer, integer);\n"
        + m0012.ADD
        + rebuild.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")
        + "DELETE FROM activities_repviewday;\nDELETE FROM activities_repmaterialspan;\n"
        + m0006.BACKFILL
    )


# Writers in flight on the old functions (or the new ones, backwards) would otherwise commit
# views that the marks or the backfill misread: the migration waits for them, and the next
# wait for it.
_QUIET = "LOCK TABLE activities_materialview IN SHARE ROW EXCLUSIVE MODE;\n"


def _forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_QUIET + FORWARD + MARKS, None)


def _backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_QUIET + _backward_sql(), None)


class Migration(migrations.Migration):
    dependencies = [
        ("activities", "0014_won_months"),
        ("pse_crm", "0002_audit_event"),
    ]

    operations = [
        migrations.CreateModel(
            name="ViewRollupMark",
            fields=[
                (
                    "tenant",
                    models.OneToOneField(
                        db_constraint=False,
                        editable=False,
                        on_delete=models.deletion.PROTECT,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="pse_crm.tenant",
                        verbose_name="tenant",
                    ),
                ),
                ("folded_through", models.BigIntegerField(verbose_name="folded through view id")),
            ],
            options={
                "verbose_name": "roll-up mark of the views",
                "verbose_name_plural": "roll-up marks of the views",
            },
        ),
        migrations.RunPython(_forward, _backward),
    ]
