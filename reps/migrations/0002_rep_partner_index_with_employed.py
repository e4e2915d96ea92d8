"""The reps' (tenant, partner) index gains ``is_employed`` (issue 19, bench/pages.py): the
partner page's and partner list's live counts of a partner's reps and employed reps read
the index alone. The new index is built before the old one goes, so a partner's reps are
never without one."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("partners", "0002_partner_totals"),
        ("pse_crm", "0005_api_keys"),
        ("reps", "0001_initial"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="rep",
            index=models.Index(
                fields=["tenant", "partner", "is_employed"], name="rep_tenant_partner_employed"
            ),
        ),
        migrations.RemoveIndex(model_name="rep", name="reps_rep_tenant__59f16a_idx"),
    ]
