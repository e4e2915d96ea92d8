"""Reserved for the deal-sync work; filled in as its models change."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("activities", "0007_sync_truth")]

    operations: list = []
