"""Deal sync: the version of each field a partial record left older than the deal's."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("activities", "0007_sync_truth")]

    operations = [
        migrations.AddField(
            model_name="deal",
            name="field_stamps",
            field=models.JSONField(
                blank=True, db_default={}, default=dict, verbose_name="field versions"
            ),
        ),
    ]
