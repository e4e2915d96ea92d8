"""Each rep segment's place in its run's default order, the runs that carry it, and each
partner's first reps in that order.

The rows written before this migration are ranked here, as the run now ranks its own
(``ORDER BY score DESC, rep_id``, from 0), and their runs marked ranked. ``migrate`` lifts
the tenant wall (``pse_crm.rls.pre_migrate``), so the statements see every tenant's rows.
The same SQL runs on PostgreSQL and SQLite (3.33 or newer: ``UPDATE … FROM``). The
partners' first reps stay empty in the runs before it: their pages read as before.
"""

from django.db import migrations, models

RANK_SEGMENTS = """
UPDATE enablement_repsegment
SET position = ranked.position
FROM (
    SELECT id, ROW_NUMBER() OVER (PARTITION BY run_id ORDER BY score DESC, rep_id) - 1
           AS position
    FROM enablement_repsegment
) AS ranked
WHERE ranked.id = enablement_repsegment.id
"""


def rank_segments(apps, schema_editor):
    schema_editor.execute(RANK_SEGMENTS)
    schema_editor.execute("UPDATE enablement_segmentationrun SET segments_ranked = %s", [True])


class Migration(migrations.Migration):
    dependencies = [("segmentation", "0003_run_floor")]

    operations = [
        migrations.AddField(
            model_name="repsegment",
            name="position",
            field=models.PositiveIntegerField(
                editable=False, null=True, verbose_name="place in the run"
            ),
        ),
        migrations.AddField(
            model_name="segmentationrun",
            name="segments_ranked",
            field=models.BooleanField(
                default=False, editable=False, verbose_name="segments ranked"
            ),
        ),
        migrations.AddField(
            model_name="partnersegment",
            name="first_listed_reps",
            field=models.JSONField(
                blank=True, default=list, editable=False, verbose_name="first reps listed"
            ),
        ),
        migrations.RunPython(rank_segments, migrations.RunPython.noop, elidable=True),
    ]
