# The measured effect of know-how against a comparison group (issue 18), rebuilt nightly.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("knowhow", "0001_initial"),
        ("pse_crm", "0005_api_keys"),
    ]

    operations = [
        migrations.CreateModel(
            name="KnowHowEffect",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "days",
                    models.PositiveSmallIntegerField(verbose_name="days before and after the share"),
                ),
                ("as_of_date", models.DateField(verbose_name="as-of day")),
                ("computed_at", models.DateTimeField(verbose_name="computed")),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("measured", "Measured"),
                            ("too_small", "Too few reps to measure"),
                            ("waiting", "Waiting for the first N days after a share to pass"),
                            ("no_shares", "Not shared yet"),
                        ],
                        max_length=16,
                        verbose_name="status",
                    ),
                ),
                ("reached", models.PositiveIntegerField(default=0, verbose_name="reps reached")),
                (
                    "waiting",
                    models.PositiveIntegerField(
                        default=0, verbose_name="reached, window still open"
                    ),
                ),
                (
                    "unmatched_segment",
                    models.PositiveIntegerField(
                        default=0, verbose_name="reached, not segmented at the share time"
                    ),
                ),
                (
                    "unmatched_comparison",
                    models.PositiveIntegerField(
                        default=0, verbose_name="reached, no similar rep to compare with"
                    ),
                ),
                (
                    "matched",
                    models.PositiveIntegerField(default=0, verbose_name="reached and matched"),
                ),
                (
                    "comparison_reps",
                    models.PositiveIntegerField(default=0, verbose_name="comparison reps"),
                ),
                ("metrics", models.JSONField(blank=True, default=dict, verbose_name="figures")),
                (
                    "know_how",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="effects",
                        to="knowhow.knowhow",
                        verbose_name="know-how",
                    ),
                ),
                (
                    "tenant",
                    models.ForeignKey(
                        editable=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="pse_crm.tenant",
                        verbose_name="tenant",
                    ),
                ),
            ],
            options={
                "verbose_name": "know-how effect",
                "verbose_name_plural": "know-how effects",
                "ordering": ["know_how_id", "days"],
                "indexes": [
                    models.Index(fields=["tenant", "know_how"], name="knowhoweffect_tenant_kh")
                ],
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("know_how__isnull", False)),
                        fields=("tenant", "know_how", "days"),
                        name="knowhoweffect_one_per_know_how",
                    ),
                    models.UniqueConstraint(
                        condition=models.Q(("know_how__isnull", True)),
                        fields=("tenant", "days"),
                        name="knowhoweffect_one_overall",
                    ),
                ],
            },
        ),
    ]
