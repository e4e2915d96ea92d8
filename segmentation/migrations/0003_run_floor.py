"""Reserved for the segmentation-floor work; filled in as its models change."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("segmentation", "0002_keyman_verdicts")]

    operations: list = []
