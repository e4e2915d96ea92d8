"""Reserved for the scoped API key work; filled in as its models change."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("pse_crm", "0004_sync_truth")]

    operations: list = []
