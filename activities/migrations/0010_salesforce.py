"""The Salesforce connector: a reconciliation run counts the deals it soft-deleted."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("activities", "0009_currencies")]

    operations = [
        migrations.AddField(
            model_name="salesforcepullrun",
            name="soft_deleted",
            field=models.PositiveIntegerField(default=0, verbose_name="soft-deleted"),
        ),
    ]
