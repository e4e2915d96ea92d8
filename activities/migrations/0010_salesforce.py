"""Reserved for the Salesforce connector work; filled in as its models change."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("activities", "0009_currencies")]

    operations: list = []
