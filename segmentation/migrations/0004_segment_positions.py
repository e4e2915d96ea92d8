"""Each rep segment's place in its run's default order, the runs that carry it, and each
partner's first reps in that order: the columns only (nullable or with database defaults,
so adding them rewrites nothing and code from before still writes runs). 0005 ranks the
current runs.
"""

from django.db import migrations, models


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
                db_default=False, default=False, editable=False, verbose_name="segments ranked"
            ),
        ),
        migrations.AddField(
            model_name="partnersegment",
            name="first_listed_reps",
            field=models.JSONField(
                blank=True,
                db_default=[],
                default=list,
                editable=False,
                verbose_name="first reps listed",
            ),
        ),
    ]
