"""Reserved for the currency work; filled in as its models change."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("activities", "0008_deal_sync")]

    operations: list = []
