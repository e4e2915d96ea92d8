"""Currencies: the deals stored before conversion existed get their corporate amount.

Before this work every deal was stored in the tenant's currency (JPY unless sent
otherwise) and no rates existed, so a deal in its tenant's corporate currency converts to
itself; any other deal stays unconverted until its rates are imported
(``activities.services.currencies``).
"""

from django.db import migrations

FORWARD = """
UPDATE activities_deal SET amount_corporate = amount
WHERE amount_corporate IS NULL
  AND sf_converted_amount IS NULL
  AND amount IS NOT NULL
  AND currency = (
    SELECT corporate_currency FROM pse_crm_tenant WHERE pse_crm_tenant.id = activities_deal.tenant_id
  )
"""


class Migration(migrations.Migration):
    dependencies = [
        ("activities", "0008_deal_sync"),
        ("pse_crm", "0004_sync_truth"),
    ]

    operations: list = [
        migrations.RunSQL(FORWARD, migrations.RunSQL.noop, elidable=True),
    ]
