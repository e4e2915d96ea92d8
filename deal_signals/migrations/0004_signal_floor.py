"""Fewer indexes to maintain on the deal-signal evaluation's inserts (issue 19;
docs/performance.md).

* The single-column ``tenant_id`` indexes of signals, their triggering views and
  notifications go: every other index of these tables leads with the tenant (the unique
  constraints, ``(tenant, status, created_at)``, ``(tenant, user, read_at)``…), and serves
  what they served, the foreign key's check of a deleted tenant included.
* The ``(tenant, signal)`` index of the triggering views goes: the foreign key's index on
  ``signal`` serves every lookup by signal, scoped or not, and the cascade of a deleted
  signal.

The foreign keys themselves stay. One evaluation of a 10,000-view batch writes about
4,500 signals, 13,500 triggering views and 4,500 notifications: 36,000 index entries
fewer.
"""

import django.db.models.deletion
from django.db import migrations, models


def _tenant():
    return models.ForeignKey(
        db_index=False,
        editable=False,
        on_delete=django.db.models.deletion.PROTECT,
        related_name="+",
        to="pse_crm.tenant",
        verbose_name="tenant",
    )


class Migration(migrations.Migration):
    dependencies = [
        ("deal_signals", "0003_signal_rules_for_every_tenant"),
        ("pse_crm", "0005_api_keys"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="dealsignalview", name="enablement__tenant__aed24c_idx"),
        migrations.AlterField(model_name="dealsignal", name="tenant", field=_tenant()),
        migrations.AlterField(model_name="dealsignalview", name="tenant", field=_tenant()),
        migrations.AlterField(model_name="notification", name="tenant", field=_tenant()),
    ]
