"""The view table nearer the floor of storing its rows (issue 19; docs/performance.md).

* The duplicate duration check goes: ``PositiveIntegerField`` has its own
  (``duration_seconds >= 0``).
* The single-column ``tenant_id`` index goes: every index of the table leads with the
  tenant, and the unique ``(tenant_id, event_id)`` serves what it served.
* The three foreign keys (tenant, rep, material) go, and statement-level triggers keep
  what they guaranteed, set-based instead of one deferred check per key and row at commit
  (900,000 checks for a 300,000-row import):

  - an INSERT or UPDATE of views locks the distinct reps, materials and tenants its rows
    name (``FOR KEY SHARE``, the lock a foreign key takes), in one statement. A view whose
    rep, material or tenant is missing, or belongs to another tenant than the view
    (stronger than the foreign keys were), fails the transaction at its commit unless it
    is gone or its keys exist by then (a deferred check, as the foreign keys' was: a
    restore may insert views before what they name). A concurrent delete of a named row
    waits for the transaction, then fails on its own check; an insert that waits for a
    concurrent delete finds the row gone and fails;
  - a DELETE of reps, materials or tenants, or a change of their ``id`` or ``tenant_id``,
    fails at commit while a view still names them (row-level constraint triggers, deferred
    like the foreign keys' checks, so a transaction may remove views and what they name in
    any order); a TRUNCATE of their tables fails at once.

  Each raises ``foreign_key_violation`` (SQLSTATE 23503: Django's IntegrityError), as the
  foreign keys did. The insert check reads under the tenant wall (a view can only name
  what its writer's scope sees); the removal checks lift it for their one query, so that
  a view the remover's scope hides still counts. PostgreSQL only (SQLite, the demo, keeps
  no foreign keys on these columns either way: Django creates none for
  ``db_constraint=False``).
"""

import django.db.models.deletion
from django.db import migrations, models

RAISE_ORPHAN = (
    "RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', MESSAGE = format("
    "'activities_materialview: %s', {what})"
)

FORWARD = f"""
-- Keys a statement found missing, checked again at the commit; always empty between
-- transactions (the check deletes what it checked).
CREATE TABLE activities_view_keys_pending (
    tenant_id bigint NOT NULL, rep_id bigint NOT NULL, material_id bigint NOT NULL
);

CREATE FUNCTION activities_view_keys_pending_check() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM activities_view_keys_pending p
    WHERE p.tenant_id = NEW.tenant_id AND p.rep_id = NEW.rep_id
      AND p.material_id = NEW.material_id;
    IF NOT FOUND THEN
        RETURN NULL;  -- a duplicate of a row checked already
    END IF;
    PERFORM FROM reps_rep x WHERE x.id = NEW.rep_id AND x.tenant_id = NEW.tenant_id
    FOR KEY SHARE;
    IF FOUND THEN
        PERFORM FROM activities_material x
        WHERE x.id = NEW.material_id AND x.tenant_id = NEW.tenant_id FOR KEY SHARE;
    END IF;
    IF FOUND THEN
        PERFORM FROM pse_crm_tenant x WHERE x.id = NEW.tenant_id FOR KEY SHARE;
    END IF;
    IF NOT FOUND AND EXISTS (
        SELECT FROM activities_materialview v WHERE v.tenant_id = NEW.tenant_id
        AND v.rep_id = NEW.rep_id AND v.material_id = NEW.material_id
    ) THEN
        {
    RAISE_ORPHAN.format(
        what="format('tenant %s, rep %s or material %s does not exist in "
        "the tenant', NEW.tenant_id, NEW.rep_id, NEW.material_id)"
    )
};
    END IF;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER activities_view_keys_pending AFTER INSERT
ON activities_view_keys_pending DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
EXECUTE FUNCTION activities_view_keys_pending_check();

CREATE FUNCTION activities_views_keys_check() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    missing bigint;
BEGIN
    WITH rk AS MATERIALIZED (SELECT DISTINCT tenant_id, rep_id FROM new_views),
    rl AS MATERIALIZED (
        SELECT x.id FROM reps_rep x JOIN rk ON x.id = rk.rep_id AND x.tenant_id = rk.tenant_id
        FOR KEY SHARE OF x
    ),
    mk AS MATERIALIZED (SELECT DISTINCT tenant_id, material_id FROM new_views),
    ml AS MATERIALIZED (
        SELECT x.id FROM activities_material x
        JOIN mk ON x.id = mk.material_id AND x.tenant_id = mk.tenant_id
        FOR KEY SHARE OF x
    ),
    tk AS MATERIALIZED (SELECT DISTINCT tenant_id FROM new_views),
    tl AS MATERIALIZED (
        SELECT x.id FROM pse_crm_tenant x JOIN tk ON x.id = tk.tenant_id FOR KEY SHARE OF x
    )
    SELECT (SELECT count(*) FROM rk) - (SELECT count(*) FROM rl)
         + (SELECT count(*) FROM mk) - (SELECT count(*) FROM ml)
         + (SELECT count(*) FROM tk) - (SELECT count(*) FROM tl)
    INTO missing;
    IF missing > 0 THEN
        -- Not (yet) there: the rare path. Like a deferred foreign key, the keys are checked
        -- again at the commit (a restore may insert views before what they name); the
        -- check of the normal path above costs no deferred event at all.
        INSERT INTO activities_view_keys_pending (tenant_id, rep_id, material_id)
        SELECT DISTINCT v.tenant_id, v.rep_id, v.material_id FROM new_views v
        WHERE NOT EXISTS (SELECT FROM reps_rep x WHERE x.id = v.rep_id
                          AND x.tenant_id = v.tenant_id)
           OR NOT EXISTS (SELECT FROM activities_material x WHERE x.id = v.material_id
                          AND x.tenant_id = v.tenant_id)
           OR NOT EXISTS (SELECT FROM pse_crm_tenant x WHERE x.id = v.tenant_id);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER activities_views_keys_inserted AFTER INSERT ON activities_materialview
REFERENCING NEW TABLE AS new_views
FOR EACH STATEMENT EXECUTE FUNCTION activities_views_keys_check();

CREATE TRIGGER activities_views_keys_updated AFTER UPDATE ON activities_materialview
REFERENCING NEW TABLE AS new_views
FOR EACH STATEMENT EXECUTE FUNCTION activities_views_keys_check();

-- A removed or re-keyed rep, material or tenant (TG_ARGV[0]: which) that views still name.
-- Row-level and deferred to the commit, as a foreign key's check of a removal is: a
-- transaction may remove the views and what they name in any order. The wall is lifted
-- for the one query (a view the remover's scope hides still counts).
CREATE FUNCTION activities_views_key_removed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    previous text := coalesce(current_setting('app.all_tenants', true), '');
    named boolean;
BEGIN
    PERFORM set_config('app.all_tenants', 'on', true);
    -- (A row with the same key may be back by the commit, as in a restore after a
    -- deletion in one transaction: the views name it again, as a foreign key allows.)
    IF TG_ARGV[0] = 'rep' THEN
        SELECT EXISTS (SELECT FROM activities_materialview v
                       WHERE v.tenant_id = OLD.tenant_id AND v.rep_id = OLD.id)
           AND NOT EXISTS (SELECT FROM reps_rep x
                           WHERE x.id = OLD.id AND x.tenant_id = OLD.tenant_id) INTO named;
    ELSIF TG_ARGV[0] = 'material' THEN
        SELECT EXISTS (SELECT FROM activities_materialview v
                       WHERE v.tenant_id = OLD.tenant_id AND v.material_id = OLD.id)
           AND NOT EXISTS (SELECT FROM activities_material x
                           WHERE x.id = OLD.id AND x.tenant_id = OLD.tenant_id) INTO named;
    ELSE
        SELECT EXISTS (SELECT FROM activities_materialview v WHERE v.tenant_id = OLD.id)
           AND NOT EXISTS (SELECT FROM pse_crm_tenant x WHERE x.id = OLD.id) INTO named;
    END IF;
    PERFORM set_config('app.all_tenants', previous, true);
    IF named THEN
        {
    RAISE_ORPHAN.format(
        what="format('a %s that views name cannot be removed or re-keyed (id %s)', TG_ARGV[0], OLD.id)"
    )
};
    END IF;
    RETURN NULL;
END
$$;

-- TRUNCATE fires after every table of the statement is empty: Django's flush, which
-- truncates the views with them, passes.
CREATE FUNCTION activities_views_keys_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    previous text := coalesce(current_setting('app.all_tenants', true), '');
    named boolean;
BEGIN
    PERFORM set_config('app.all_tenants', 'on', true);
    SELECT EXISTS (SELECT FROM activities_materialview) INTO named;
    PERFORM set_config('app.all_tenants', previous, true);
    IF named THEN
        {
    RAISE_ORPHAN.format(
        what="format('%s cannot be truncated while views name its rows', TG_TABLE_NAME)"
    )
};
    END IF;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER activities_views_keep_reps AFTER DELETE ON reps_rep
DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
EXECUTE FUNCTION activities_views_key_removed('rep');
CREATE CONSTRAINT TRIGGER activities_views_keep_materials AFTER DELETE ON activities_material
DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
EXECUTE FUNCTION activities_views_key_removed('material');
CREATE CONSTRAINT TRIGGER activities_views_keep_tenants AFTER DELETE ON pse_crm_tenant
DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
EXECUTE FUNCTION activities_views_key_removed('tenant');
CREATE CONSTRAINT TRIGGER activities_views_keep_rep_keys AFTER UPDATE OF id, tenant_id
ON reps_rep DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
WHEN (OLD.id IS DISTINCT FROM NEW.id OR OLD.tenant_id IS DISTINCT FROM NEW.tenant_id)
EXECUTE FUNCTION activities_views_key_removed('rep');
CREATE CONSTRAINT TRIGGER activities_views_keep_material_keys AFTER UPDATE OF id, tenant_id
ON activities_material DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
WHEN (OLD.id IS DISTINCT FROM NEW.id OR OLD.tenant_id IS DISTINCT FROM NEW.tenant_id)
EXECUTE FUNCTION activities_views_key_removed('material');
CREATE CONSTRAINT TRIGGER activities_views_keep_tenant_keys AFTER UPDATE OF id
ON pse_crm_tenant DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
WHEN (OLD.id IS DISTINCT FROM NEW.id)
EXECUTE FUNCTION activities_views_key_removed('tenant');

CREATE TRIGGER activities_views_keep_reps_truncated AFTER TRUNCATE ON reps_rep
FOR EACH STATEMENT EXECUTE FUNCTION activities_views_keys_truncated();
CREATE TRIGGER activities_views_keep_materials_truncated AFTER TRUNCATE ON activities_material
FOR EACH STATEMENT EXECUTE FUNCTION activities_views_keys_truncated();
CREATE TRIGGER activities_views_keep_tenants_truncated AFTER TRUNCATE ON pse_crm_tenant
FOR EACH STATEMENT EXECUTE FUNCTION activities_views_keys_truncated();
"""

BACKWARD = """
DROP TRIGGER activities_views_keys_inserted ON activities_materialview;
DROP TRIGGER activities_views_keys_updated ON activities_materialview;
DROP TRIGGER activities_views_keep_reps ON reps_rep;
DROP TRIGGER activities_views_keep_materials ON activities_material;
DROP TRIGGER activities_views_keep_tenants ON pse_crm_tenant;
DROP TRIGGER activities_views_keep_rep_keys ON reps_rep;
DROP TRIGGER activities_views_keep_material_keys ON activities_material;
DROP TRIGGER activities_views_keep_tenant_keys ON pse_crm_tenant;
DROP TRIGGER activities_views_keep_reps_truncated ON reps_rep;
DROP TRIGGER activities_views_keep_materials_truncated ON activities_material;
DROP TRIGGER activities_views_keep_tenants_truncated ON pse_crm_tenant;
DROP FUNCTION activities_views_keys_check();
DROP TABLE activities_view_keys_pending;
DROP FUNCTION activities_view_keys_pending_check();
DROP FUNCTION activities_views_key_removed();
DROP FUNCTION activities_views_keys_truncated();
"""


def _postgresql_only(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, None)  # no parameters: the % in format() stay

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("activities", "0010_salesforce"),
        ("pse_crm", "0002_audit_event"),
        ("reps", "0001_initial"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="materialview",
            name="materialview_duration_not_negative",
        ),
        # The triggers first: no moment without either guarantee (and, backwards, the
        # foreign keys are back before the triggers go).
        migrations.RunPython(_postgresql_only(FORWARD), _postgresql_only(BACKWARD)),
        migrations.AlterField(
            model_name="materialview",
            name="material",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="views",
                to="activities.material",
                verbose_name="material",
            ),
        ),
        migrations.AlterField(
            model_name="materialview",
            name="rep",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="views",
                to="reps.rep",
                verbose_name="rep",
            ),
        ),
        migrations.AlterField(
            model_name="materialview",
            name="tenant",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                editable=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="pse_crm.tenant",
                verbose_name="tenant",
            ),
        ),
    ]
