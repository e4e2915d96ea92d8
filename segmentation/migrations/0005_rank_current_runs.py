"""Rank the current runs' segments (``RepSegment.position``, ``ORDER BY score DESC,
rep_id`` from 0, as a run now ranks its own) and mark those runs ranked.

Only the current runs: the pages read the current run alone, and an older run's rows are
never listed by position (its history is read by rep). A migration of its own, after the
columns' (0004), so the columns' exclusive lock is gone before these rows are written,
and readers of the table are not held. ``migrate`` lifts the tenant wall
(``pse_crm.rls.pre_migrate``), so the statements see every tenant's rows. A run still
pending or running is not marked: the code that finishes it ranks it or not. The same SQL
runs on PostgreSQL and SQLite (3.33 or newer: ``UPDATE … FROM``).
"""

from django.db import migrations

RANK_SEGMENTS = """
UPDATE enablement_repsegment
SET position = ranked.position
FROM (
    SELECT s.id, ROW_NUMBER() OVER (PARTITION BY s.run_id ORDER BY s.score DESC, s.rep_id) - 1
           AS position
    FROM enablement_repsegment s
    JOIN enablement_segmentationrun r ON r.id = s.run_id
    WHERE r.is_current AND r.status = 'succeeded'
) AS ranked
WHERE ranked.id = enablement_repsegment.id
"""

# Only a run whose segments all have their place: one committed by older code since the
# ranking (its rows without one) stays unranked.
MARK_RANKED = """
UPDATE enablement_segmentationrun
SET segments_ranked = %s
WHERE is_current AND status = 'succeeded'
  AND NOT EXISTS (
      SELECT 1 FROM enablement_repsegment s
      WHERE s.run_id = enablement_segmentationrun.id AND s.position IS NULL
  )
"""


def rank_current_runs(apps, schema_editor):
    schema_editor.execute(RANK_SEGMENTS)
    schema_editor.execute(MARK_RANKED, [True])


class Migration(migrations.Migration):
    dependencies = [("segmentation", "0004_segment_positions")]

    operations = [
        migrations.RunPython(rank_current_runs, migrations.RunPython.noop, elidable=True),
    ]
