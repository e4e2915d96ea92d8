"""Reserved for the ingestion-floor work; filled in as its models change."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("activities", "0010_salesforce")]

    operations: list = []
