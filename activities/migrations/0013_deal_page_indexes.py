"""Two deal indexes for the pages at 50,000 reps (issue 19, bench/pages.py): the
share-of-wallet sums read an index only, and the unconverted count reads none."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("activities", "0012_ingest_floor")]

    operations = [
        migrations.AddIndex(
            model_name="deal",
            index=models.Index(
                condition=models.Q(("is_deleted", False), ("is_won", True)),
                fields=["tenant", "partner", "close_date"],
                include=("amount_corporate", "amount"),
                name="deal_won_by_partner_close",
            ),
        ),
        migrations.AddIndex(
            model_name="deal",
            index=models.Index(
                condition=models.Q(
                    ("amount__isnull", False),
                    ("amount_corporate__isnull", True),
                    ("is_deleted", False),
                ),
                fields=["tenant", "currency"],
                name="deal_unconverted",
            ),
        ),
    ]
