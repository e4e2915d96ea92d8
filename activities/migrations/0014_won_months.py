"""The won deals per partner and close month (``PartnerWonMonth``), kept by triggers.

Statement-level triggers on ``activities_deal`` (PostgreSQL only; transition tables give
each statement's rows in one set) add what each statement's new rows bring and subtract
what its old rows brought, for the won, undeleted deals with a partner and a close date:
an INSERT (COPY and the inserted rows of an upsert included) adds, a DELETE subtracts, an
UPDATE (the updated rows of an upsert included) nets both per key, over the rows whose
columns that count changed. One upsert per statement, in key order; the additions are
exact under concurrency (each key's row lock orders them, and ON CONFLICT DO UPDATE adds to
the latest version). A key left without deals loses its row. A TRUNCATE of the deals
empties it.

The roll-up's rows stay locked until the writer commits, so two transactions writing
deals of the same partner-months in different orders could deadlock, where on the deals
alone they would not have met. So a statement that writes deals first takes its tenant's
lock (an advisory transaction lock, pair 0x7012 and the tenant of the scope), before it
touches a row: a tenant's deal writers take turns, each until it commits, and never wait
on each other's rows. The rebuild (``activities.services.rollups.won_months_rebuild``)
takes the same lock. A writer with the wall lifted (no tenant in scope: a maintenance
script, a data migration) takes pair 0x7012 and 0 first, then each tenant's lock once its
rows are known, before the roll-up: it takes turns with the rebuild, but it may still
deadlock with a tenant's writer (PostgreSQL then aborts one; the sums stay exact).

What bypasses triggers (DISABLE TRIGGER, session_replication_role = replica, a restore
with --disable-triggers) leaves it stale: ``manage.py rebuild_view_rollups`` recomputes it
(``BACKFILL`` below does for every tenant; the tests check the triggers against it).

Sums only: no minimum or maximum, so nothing is ever rebuilt from the deals. The month is
the close date's (a date in the tenant's calendar), so every period of the share of wallet
(months and quarters) is a whole number of them.
"""

import django.db.models.deletion
from django.db import migrations, models

# A deal's contribution, from a transition table (or the deals): sign 1 or -1.
_CONTRIBUTION = """
    SELECT tenant_id, partner_id,
           date_trunc('month', close_date::timestamp)::date AS month,
           {sign} * COALESCE(SUM(amount_corporate), 0) AS won_amount,
           {sign} * COUNT(*) AS won_deals,
           {sign} * COUNT(*) FILTER (WHERE amount IS NOT NULL AND amount_corporate IS NULL)
               AS won_unconverted
    FROM {rows}
    WHERE is_won AND NOT is_deleted AND partner_id IS NOT NULL AND close_date IS NOT NULL
    GROUP BY 1, 2, 3
"""

# Before any roll-up row is touched, the lock of each tenant the rows name, in order: held
# already by a writer scoped to its tenant (``activities_deals_won_take_turns``); taken
# here by one with the wall lifted, so that it takes turns with the rebuild too.
_TURNS = """
    PERFORM pg_advisory_xact_lock({lock}, t.tenant_id::integer)
    FROM (SELECT DISTINCT tenant_id FROM ({rows}) r ORDER BY tenant_id) t;
"""

_UPSERT = """
    INSERT INTO activities_partnerwonmonth AS m
        (tenant_id, partner_id, month, won_amount, won_deals, won_unconverted)
    SELECT tenant_id, partner_id, month, SUM(won_amount), SUM(won_deals), SUM(won_unconverted)
    FROM ({deltas}) d
    GROUP BY 1, 2, 3
    HAVING SUM(won_deals) <> 0 OR SUM(won_unconverted) <> 0 OR SUM(won_amount) <> 0
    ORDER BY 1, 2, 3
    ON CONFLICT (tenant_id, partner_id, month) DO UPDATE
    SET won_amount = m.won_amount + EXCLUDED.won_amount,
        won_deals = m.won_deals + EXCLUDED.won_deals,
        won_unconverted = m.won_unconverted + EXCLUDED.won_unconverted;
"""

# After a statement that may have taken deals away: the keys it touched left without any.
_EMPTIED = """
    DELETE FROM activities_partnerwonmonth m
    USING (SELECT DISTINCT tenant_id, partner_id, month FROM ({deltas}) d) k
    WHERE m.tenant_id = k.tenant_id AND m.partner_id = k.partner_id AND m.month = k.month
      AND m.won_deals = 0;
"""

_ADDED = _CONTRIBUTION.format(sign=1, rows="new_deals")
_REMOVED = _CONTRIBUTION.format(sign=-1, rows="old_deals")
# An update's rows whose contribution may have changed, each side less the other (a
# multiset difference: a row left as it was cancels out, whatever else the statement set,
# as linking a rep does; an id changed too leaves both versions).
_COLUMNS = "id, tenant_id, partner_id, close_date, amount, amount_corporate, is_won, is_deleted"
_CHANGED_NEW = _CONTRIBUTION.format(
    sign=1,
    rows=f"(SELECT {_COLUMNS} FROM new_deals EXCEPT ALL SELECT {_COLUMNS} FROM old_deals) AS n",
)
_CHANGED_OLD = _CONTRIBUTION.format(
    sign=-1,
    rows=f"(SELECT {_COLUMNS} FROM old_deals EXCEPT ALL SELECT {_COLUMNS} FROM new_deals) AS o",
)

WON_LOCK_CLASS = 0x7012

FORWARD = f"""
CREATE FUNCTION activities_deals_won_take_turns() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(
        {WON_LOCK_CLASS},
        COALESCE(NULLIF(current_setting('app.tenant_id', true), ''), '0')::integer
    );
    RETURN NULL;
END
$$;

CREATE FUNCTION activities_deals_won_added() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    {_TURNS.format(lock=WON_LOCK_CLASS, rows="SELECT tenant_id FROM new_deals")}
    {_UPSERT.format(deltas=_ADDED)}
    RETURN NULL;
END
$$;

CREATE FUNCTION activities_deals_won_removed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    {_TURNS.format(lock=WON_LOCK_CLASS, rows="SELECT tenant_id FROM old_deals")}
    {_UPSERT.format(deltas=_REMOVED)}
    {_EMPTIED.format(deltas=_REMOVED)}
    RETURN NULL;
END
$$;

CREATE FUNCTION activities_deals_won_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    {_TURNS.format(lock=WON_LOCK_CLASS, rows="SELECT tenant_id FROM new_deals UNION SELECT tenant_id FROM old_deals")}
    {_UPSERT.format(deltas=_CHANGED_NEW + " UNION ALL " + _CHANGED_OLD)}
    {_EMPTIED.format(deltas=_CHANGED_OLD)}
    RETURN NULL;
END
$$;

CREATE FUNCTION activities_deals_won_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    previous text := coalesce(current_setting('app.all_tenants', true), '');
BEGIN
    PERFORM set_config('app.all_tenants', 'on', true);
    DELETE FROM activities_partnerwonmonth;
    PERFORM set_config('app.all_tenants', previous, true);
    RETURN NULL;
END
$$;

CREATE TRIGGER activities_deals_won_take_turns
BEFORE INSERT OR UPDATE OR DELETE ON activities_deal
FOR EACH STATEMENT EXECUTE FUNCTION activities_deals_won_take_turns();

CREATE TRIGGER activities_deals_won_added AFTER INSERT ON activities_deal
REFERENCING NEW TABLE AS new_deals
FOR EACH STATEMENT EXECUTE FUNCTION activities_deals_won_added();

CREATE TRIGGER activities_deals_won_removed AFTER DELETE ON activities_deal
REFERENCING OLD TABLE AS old_deals
FOR EACH STATEMENT EXECUTE FUNCTION activities_deals_won_removed();

CREATE TRIGGER activities_deals_won_changed AFTER UPDATE ON activities_deal
REFERENCING OLD TABLE AS old_deals NEW TABLE AS new_deals
FOR EACH STATEMENT EXECUTE FUNCTION activities_deals_won_changed();

CREATE TRIGGER activities_deals_won_truncated AFTER TRUNCATE ON activities_deal
FOR EACH STATEMENT EXECUTE FUNCTION activities_deals_won_truncated();
"""

# From the deals stored now: the migration's backfill, and what the tests check the
# triggers against. ``migrate`` lifts the tenant wall (``pse_crm.rls.pre_migrate``).
BACKFILL = f"""
DELETE FROM activities_partnerwonmonth;
INSERT INTO activities_partnerwonmonth
    (tenant_id, partner_id, month, won_amount, won_deals, won_unconverted)
{_CONTRIBUTION.format(sign=1, rows="activities_deal")}
ORDER BY 1, 2, 3;
"""

BACKWARD = """
DROP TRIGGER activities_deals_won_take_turns ON activities_deal;
DROP TRIGGER activities_deals_won_added ON activities_deal;
DROP TRIGGER activities_deals_won_removed ON activities_deal;
DROP TRIGGER activities_deals_won_changed ON activities_deal;
DROP TRIGGER activities_deals_won_truncated ON activities_deal;
DROP FUNCTION activities_deals_won_take_turns();
DROP FUNCTION activities_deals_won_added();
DROP FUNCTION activities_deals_won_removed();
DROP FUNCTION activities_deals_won_changed();
DROP FUNCTION activities_deals_won_truncated();
"""


def _postgresql_only(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("activities", "0013_deal_page_indexes"),
        ("partners", "0002_partner_totals"),
        ("pse_crm", "0005_api_keys"),
    ]

    operations = [
        migrations.CreateModel(
            name="PartnerWonMonth",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "tenant",
                        "partner",
                        "month",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("month", models.DateField(verbose_name="month (its first day)")),
                (
                    "won_amount",
                    models.DecimalField(decimal_places=2, max_digits=24, verbose_name="won amount"),
                ),
                ("won_deals", models.BigIntegerField(verbose_name="won deals")),
                (
                    "won_unconverted",
                    models.BigIntegerField(verbose_name="won deals unconverted"),
                ),
                (
                    "partner",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="partners.partner",
                        verbose_name="partner",
                    ),
                ),
                (
                    "tenant",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        editable=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="pse_crm.tenant",
                        verbose_name="tenant",
                    ),
                ),
            ],
            options={
                "verbose_name": "won deals of a partner in a month",
                "verbose_name_plural": "won deals of partners per month",
            },
        ),
        migrations.RunPython(_postgresql_only(FORWARD), _postgresql_only(BACKWARD)),
        migrations.RunPython(_postgresql_only(BACKFILL), migrations.RunPython.noop),
    ]
