"""API key scopes: validated, and only their stored form can be saved (check constraint)."""

from django.db import migrations, models

import pse_crm.roles


class Migration(migrations.Migration):
    dependencies = [("pse_crm", "0004_sync_truth")]

    operations = [
        migrations.AlterField(
            model_name="tenantapikey",
            name="scopes",
            field=models.CharField(
                default="write",
                max_length=64,
                validators=[pse_crm.roles.validate_key_scopes],
                verbose_name="scopes",
            ),
        ),
        migrations.AddConstraint(
            model_name="tenantapikey",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    scopes__in=[
                        "outbound",
                        "outbound,read",
                        "outbound,read,write",
                        "outbound,write",
                        "read",
                        "read,write",
                        "write",
                    ]
                ),
                name="pse_crm_api_key_scopes_known",
            ),
        ),
    ]
