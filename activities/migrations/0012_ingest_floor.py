"""The insert roll-up trigger does less (issue 19; docs/performance.md).

``activities_views_rollup_add`` (migration 0006) is replaced with the same roll-ups,
computed the same way, and two savings:

* a statement that inserted no view (a replay: ``ON CONFLICT DO NOTHING`` skipped every
  row, or an ingestion stored in chunks whose chunk held only duplicates) returns at once:
  no tenant lock, no aggregate;
* a span is updated only where the new views widen it (``DO UPDATE … WHERE``): views that
  fall inside the known first and last view write no new row version.

(A larger ``work_mem`` for the function was measured and left out: its aggregates of
300,000 views took 0.8 s with the default 4 MB and 1.7–1.9 s with 64 MB.)

The day counts always change (a count grows by the views added), so they are updated as
before. PostgreSQL only.
"""

from django.db import migrations

ROLLUP_LOCK_CLASS = 0x7011

ADD = f"""
CREATE OR REPLACE FUNCTION activities_views_rollup_add() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- (ON CONFLICT DO NOTHING: only the rows actually inserted are in new_views.)
    IF NOT EXISTS (SELECT FROM new_views) THEN
        RETURN NULL;
    END IF;
    PERFORM pg_advisory_xact_lock_shared({ROLLUP_LOCK_CLASS}, t.tenant_id::integer)
    FROM (SELECT DISTINCT tenant_id FROM new_views ORDER BY tenant_id) t;
    INSERT INTO activities_repviewday AS d (tenant_id, day, rep_id, views)
    SELECT tenant_id, (viewed_at AT TIME ZONE 'UTC')::date, rep_id, count(*)
    FROM new_views GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (tenant_id, day, rep_id) DO UPDATE SET views = d.views + EXCLUDED.views;
    INSERT INTO activities_repmaterialspan AS s
        (tenant_id, rep_id, material_id, first_viewed_at, last_viewed_at)
    SELECT tenant_id, rep_id, material_id, min(viewed_at), max(viewed_at)
    FROM new_views GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (tenant_id, rep_id, material_id) DO UPDATE
    SET first_viewed_at = LEAST(s.first_viewed_at, EXCLUDED.first_viewed_at),
        last_viewed_at = GREATEST(s.last_viewed_at, EXCLUDED.last_viewed_at)
    WHERE EXCLUDED.first_viewed_at < s.first_viewed_at
       OR EXCLUDED.last_viewed_at > s.last_viewed_at;
    RETURN NULL;
END
$$;
"""

# Migration 0006's function, as it was.
PREVIOUS = f"""
CREATE OR REPLACE FUNCTION activities_views_rollup_add() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- (ON CONFLICT DO NOTHING: only the rows actually inserted are in new_views.)
    PERFORM pg_advisory_xact_lock_shared({ROLLUP_LOCK_CLASS}, t.tenant_id::integer)
    FROM (SELECT DISTINCT tenant_id FROM new_views ORDER BY tenant_id) t;
    INSERT INTO activities_repviewday AS d (tenant_id, day, rep_id, views)
    SELECT tenant_id, (viewed_at AT TIME ZONE 'UTC')::date, rep_id, count(*)
    FROM new_views GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (tenant_id, day, rep_id) DO UPDATE SET views = d.views + EXCLUDED.views;
    INSERT INTO activities_repmaterialspan AS s
        (tenant_id, rep_id, material_id, first_viewed_at, last_viewed_at)
    SELECT tenant_id, rep_id, material_id, min(viewed_at), max(viewed_at)
    FROM new_views GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (tenant_id, rep_id, material_id) DO UPDATE
    SET first_viewed_at = LEAST(s.first_viewed_at, EXCLUDED.first_viewed_at),
        last_viewed_at = GREATEST(s.last_viewed_at, EXCLUDED.last_viewed_at);
    RETURN NULL;
END
$$;
"""


def _postgresql_only(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, None)

    return run


class Migration(migrations.Migration):
    dependencies = [("activities", "0011_view_floor")]

    operations = [
        migrations.RunPython(_postgresql_only(ADD), _postgresql_only(PREVIOUS)),
    ]
