"""Every tenant gets its deal-signal rules stored (one per kind, from the defaults).

Until now the rules page and the rules endpoint created missing rules on GET; reads are
pure now, and new tenants get their rules when they are created
(deal_signals.receivers). This fills in the tenants created before. ``migrate`` lifts
the row-level-security wall (pse_crm.rls), so one pass covers every tenant.
"""

from django.db import migrations

# The defaults as they were when this migration was written (SignalRule.DEFAULTS):
# a migration must not read code that may change later.
DEFAULTS = {
    "burst": {"threshold": 3, "window_hours": 48, "material_kinds": []},
    "first_view": {"threshold": 1, "window_hours": 48, "material_kinds": []},
    "late_stage": {
        "threshold": 1,
        "window_hours": 48,
        "material_kinds": ["price_sheet", "quote_template", "contract"],
    },
    "reactivation": {"threshold": 2, "window_hours": 7 * 24, "material_kinds": []},
}


def create_missing_rules(apps, schema_editor):
    Tenant = apps.get_model("pse_crm", "Tenant")
    SignalRule = apps.get_model("deal_signals", "SignalRule")
    db = schema_editor.connection.alias
    have = set(SignalRule.objects.using(db).values_list("tenant_id", "kind"))
    missing = [
        SignalRule(tenant_id=tenant_id, kind=kind, **values)
        for tenant_id in Tenant.objects.using(db).values_list("pk", flat=True).order_by("pk")
        for kind, values in DEFAULTS.items()
        if (tenant_id, kind) not in have
    ]
    SignalRule.objects.using(db).bulk_create(missing, batch_size=1000, ignore_conflicts=True)


class Migration(migrations.Migration):
    dependencies = [
        ("deal_signals", "0002_initial"),
        ("pse_crm", "0002_audit_event"),
    ]

    # Reversing keeps the rules: they are the tenants' settings by now.
    operations = [migrations.RunPython(create_missing_rules, migrations.RunPython.noop)]
