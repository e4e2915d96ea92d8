"""The won deals' monthly roll-up (``PartnerWonMonth``) is, after every kind of write to
the deals, what the deals give when summed from scratch (the migration's ``BACKFILL``
query), per tenant; and the share of wallet reads the same sums from it as from the
deals."""

from __future__ import annotations

import datetime as dt
import importlib
import random
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from activities.models import Deal, PartnerWonMonth
from partners.periods import MONTH, QUARTER, period_shift
from pse_crm.calendar import tenant_today
from pse_crm.tenancy import all_tenants, tenant_scope
from tests.activities.factories import DealFactory
from tests.partners.factories import PartnerFactory
from tests.reps.factories import RepFactory
from web import share_of_wallet as sow

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="PostgreSQL's triggers"),
]

MIGRATION = importlib.import_module("activities.migrations.0014_won_months")
FROM_DEALS = MIGRATION._CONTRIBUTION.format(sign=1, rows="activities_deal")


def _from_deals() -> set[tuple]:
    with all_tenants(), connection.cursor() as cursor:
        cursor.execute(FROM_DEALS)
        return {tuple(row) for row in cursor.fetchall()}


def _rolled_up() -> set[tuple]:
    with all_tenants():
        return set(
            PartnerWonMonth.objects.values_list(
                "tenant_id", "partner_id", "month", "won_amount", "won_deals", "won_unconverted"
            )
        )


def _assert_in_step():
    expected = _from_deals()
    assert _rolled_up() == expected
    assert all(row[4] > 0 for row in expected)  # a key without deals has no row


def _deal(rng, partners, **extra):
    partner = rng.choice(partners)
    unconverted = rng.random() < 0.15
    return DealFactory(
        tenant=partner.tenant,
        rep=RepFactory(tenant=partner.tenant, partner=partner),
        partner=partner,
        amount=Decimal(rng.randint(1, 90) * 10_000) + rng.choice([Decimal(0), Decimal("0.01")]),
        currency="USD" if unconverted else "JPY",
        is_closed=True,
        is_won=rng.random() < 0.7,
        is_deleted=rng.random() < 0.1,
        close_date=rng.choice([None, *(dt.date(2026, m, d) for m in (1, 2, 3) for d in (1, 28))]),
        **extra,
    )


@pytest.mark.parametrize("seed", range(3))
def test_every_kind_of_write_keeps_the_roll_up_in_step(tenant, other_tenant, seed):
    rng = random.Random(seed)
    partners = {}
    for owner in (tenant, other_tenant):
        with tenant_scope(owner):
            partners[owner] = [PartnerFactory(tenant=owner) for _ in range(3)]
    for owner in (tenant, other_tenant):
        with tenant_scope(owner):
            deals = [_deal(rng, partners[owner]) for _ in range(25)]
            _assert_in_step()
            # One row at a time, each field that decides what a deal brings.
            for deal in rng.sample(deals, 10):
                change = rng.choice(["won", "deleted", "partner", "close", "converted", "amount"])
                if change == "won":
                    deal.is_won = not deal.is_won
                elif change == "deleted":
                    deal.is_deleted = not deal.is_deleted
                elif change == "partner":
                    deal.partner = rng.choice([None, *partners[owner]])
                elif change == "close":
                    deal.close_date = rng.choice(
                        [None, dt.date(2026, 4, 30), dt.date(2025, 12, 31)]
                    )
                elif change == "converted":
                    deal.amount_corporate = None if deal.amount_corporate else deal.amount
                else:
                    deal.amount_corporate = Decimal("123.45")
                deal.save()
                _assert_in_step()
            # A statement over many rows, one that changes nothing, a delete.
            Deal.objects.filter(pk__in=[d.pk for d in deals[:8]]).update(is_won=True)
            _assert_in_step()
            Deal.objects.filter(pk__in=[d.pk for d in deals[8:12]]).update(name="renamed")
            _assert_in_step()
            Deal.objects.filter(pk__in=[d.pk for d in deals[12:18]]).delete()
            _assert_in_step()
            # An upsert: one row inserted, one updated (both triggers of one statement).
            kept = deals[20]
            with connection.cursor() as cursor:
                cursor.execute(
                    """
                    INSERT INTO activities_deal AS d (
                        tenant_id, sf_id, name, partner_id, amount, currency, amount_corporate,
                        stage, is_closed, is_won, close_date, system_modstamp, field_stamps,
                        is_deleted, raw_partner_key, raw_rep_key, created_at, updated_at)
                    SELECT %s, sf_id, '', %s, 5000, 'JPY', 5000, 'Won', TRUE, TRUE,
                           DATE '2026-02-14', now(), '{}', FALSE, '', '', now(), now()
                    FROM (VALUES (%s), ('006000000999999AAA')) v (sf_id)
                    ON CONFLICT (tenant_id, sf_id) DO UPDATE
                    SET amount_corporate = d.amount_corporate + 1, is_won = TRUE,
                        is_deleted = FALSE, partner_id = EXCLUDED.partner_id
                    """,
                    [owner.pk, partners[owner][0].pk, kept.sf_id],
                )
            _assert_in_step()


def test_a_partner_without_won_deals_left_has_no_row(in_tenant):
    partner = PartnerFactory(tenant=in_tenant)
    rep = RepFactory(tenant=in_tenant, partner=partner)
    deals = [
        DealFactory(rep=rep, is_closed=True, is_won=True, close_date=dt.date(2026, 3, d))
        for d in (1, 31)
    ]
    (row,) = PartnerWonMonth.objects.filter(partner=partner)
    assert (row.month, row.won_deals, row.won_amount) == (dt.date(2026, 3, 1), 2, 2_000_000)
    deals[0].delete()
    deals[1].is_deleted = True
    deals[1].save()
    assert not PartnerWonMonth.objects.filter(partner=partner).exists()


def test_a_truncate_of_the_deals_empties_it(in_tenant):
    DealFactory(tenant=in_tenant, is_closed=True, is_won=True, close_date=dt.date(2026, 3, 1))
    assert PartnerWonMonth.objects.exists()
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending checks on the deals
        cursor.execute("TRUNCATE activities_deal CASCADE")
    assert not _rolled_up()


def test_the_backfill_gives_what_the_triggers_gave(tenant, other_tenant):
    rng = random.Random(5)
    for owner in (tenant, other_tenant):
        with tenant_scope(owner):
            partners = [PartnerFactory(tenant=owner) for _ in range(2)]
            for _ in range(15):
                _deal(rng, partners)
    kept = _rolled_up()
    with all_tenants(), connection.cursor() as cursor:
        cursor.execute(MIGRATION.BACKFILL)
    assert _rolled_up() == kept and kept


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("granularity", [QUARTER, MONTH])
def test_the_share_of_wallet_reads_the_same_wins_from_the_roll_up(
    tenant, other_tenant, monkeypatch, seed, granularity
):
    """The wins of every partner and period: from the roll-up (PostgreSQL's path) and from
    the deals (SQLite's), over random deals on the periods' first and last days."""
    from tests.web.test_pages_fast_paths import _random_deals

    rng = random.Random(seed)
    with tenant_scope(tenant):
        today = tenant_today(tenant)
        last = period_shift(today.replace(day=1), granularity, -1)[1]
        first = period_shift(today.replace(day=1), granularity, -5)[0]
        partners = [PartnerFactory(tenant=tenant) for _ in range(4)]
        _random_deals(tenant, rng, partners, first, last)
        unconverted = RepFactory(tenant=tenant, partner=partners[0])
        DealFactory(rep=unconverted, currency="USD", is_closed=True, is_won=True, close_date=last)
    with tenant_scope(other_tenant):
        _random_deals(other_tenant, rng, [PartnerFactory(tenant=other_tenant)], first, last)
    with tenant_scope(tenant):
        with CaptureQueriesContext(connection) as queries:
            rolled = sow.share_of_wallet(
                tenant=tenant, period_after=first, period_before=last, granularity=granularity
            )
        assert any("activities_partnerwonmonth" in q["sql"] for q in queries.captured_queries)
        monkeypatch.setattr(connection, "vendor", "sqlite")
        with CaptureQueriesContext(connection) as queries:
            summed = sow.share_of_wallet(
                tenant=tenant, period_after=first, period_before=last, granularity=granularity
            )
        assert not any("activities_partnerwonmonth" in q["sql"] for q in queries.captured_queries)
    assert rolled == summed
    assert any(row.our_deals for row in rolled) and any(row.unconverted_deals for row in rolled)


def test_the_rebuild_command_recomputes_what_bypassed_the_triggers(tenant, other_tenant):
    from django.core.management import call_command

    for owner in (tenant, other_tenant):
        with tenant_scope(owner):
            DealFactory(tenant=owner, is_closed=True, is_won=True, close_date=dt.date(2026, 3, 9))
    kept = _rolled_up()
    with tenant_scope(tenant), connection.cursor() as cursor:
        # A restore with --disable-triggers, say: a won deal the roll-up never saw.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending events for ALTER
        cursor.execute("ALTER TABLE activities_deal DISABLE TRIGGER USER")
        DealFactory(tenant=tenant, is_closed=True, is_won=True, close_date=dt.date(2026, 3, 9))
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE activities_deal ENABLE TRIGGER USER")
    assert _rolled_up() == kept != _from_deals()  # stale
    call_command("rebuild_view_rollups", tenant=tenant.slug)
    _assert_in_step()
    with all_tenants():
        assert PartnerWonMonth.objects.filter(tenant=tenant).count() == 2


def test_the_triggers_pass_the_tenant_wall_as_the_application_role(tenant, other_tenant):
    """The app connects as a NOBYPASSRLS role: the triggers' writes (and the rebuild's)
    must pass the policies of the roll-up, whose row-level security is forced."""
    from activities.services.rollups import won_months_rebuild
    from tests.hardening.conftest import acting_as_app_role

    with tenant_scope(other_tenant):
        DealFactory(
            tenant=other_tenant, is_closed=True, is_won=True, close_date=dt.date(2026, 1, 5)
        )
    with tenant_scope(tenant):
        partner = PartnerFactory(tenant=tenant)
        rep = RepFactory(tenant=tenant, partner=partner)
    with acting_as_app_role(), tenant_scope(tenant):
        deal = DealFactory(rep=rep, is_closed=True, is_won=True, close_date=dt.date(2026, 2, 5))
        Deal.objects.filter(pk=deal.pk).update(close_date=dt.date(2026, 3, 5))
        assert list(PartnerWonMonth.objects.values_list("month", "won_deals")) == [
            (dt.date(2026, 3, 1), 1)
        ]
        assert won_months_rebuild(tenant=tenant) == (1, 1)
        Deal.objects.filter(pk=deal.pk).delete()
        assert not PartnerWonMonth.objects.exists()
    _assert_in_step()


@pytest.mark.django_db(transaction=True)
def test_writers_of_the_same_partner_months_in_opposite_orders_take_turns(tenant):
    """Two transactions, each writing a deal of month A and one of month B, in opposite
    orders: the roll-up's rows would deadlock them; the tenant's lock makes the second
    wait for the first to commit, and both land."""
    import threading

    from tests.helpers import on_another_connection

    with tenant_scope(tenant):
        partner = PartnerFactory(tenant=tenant)
        rep = RepFactory(tenant=tenant, partner=partner)
        won = {"rep": rep, "is_closed": True, "is_won": True}
        a1, a2 = (DealFactory(**won, close_date=dt.date(2026, 1, d)) for d in (1, 2))
        b1, b2 = (DealFactory(**won, close_date=dt.date(2026, 2, d)) for d in (1, 2))
    errors: list[BaseException] = []
    first_wrote, go_on = threading.Event(), threading.Event()

    def bump(deal):
        Deal._base_manager.filter(pk=deal.pk).update(amount_corporate=deal.amount + 1)

    def first():
        with tenant_scope(tenant), transaction.atomic():
            bump(a1)
            first_wrote.set()
            go_on.wait(10)
            bump(b1)

    def second():
        with tenant_scope(tenant), transaction.atomic():
            bump(b2)
            bump(a2)

    one = on_another_connection(first, errors)
    assert first_wrote.wait(10)
    two = on_another_connection(second, errors)
    two.join(1)
    assert two.is_alive(), "the second writer should wait for the first"
    go_on.set()
    for thread in (one, two):
        thread.join(20)
    assert not errors, errors
    _assert_in_step()
    with all_tenants():
        assert set(PartnerWonMonth.objects.values_list("won_amount", flat=True)) == {2_000_002}


@pytest.mark.django_db(transaction=True)
def test_the_rebuild_waits_for_a_writer_with_the_wall_lifted(tenant):
    """A maintenance write (no tenant in scope) takes the tenant's lock once its rows are
    known: a rebuild meanwhile waits for it, then counts its deal."""
    import threading

    from activities.services.rollups import won_months_rebuild
    from tests.helpers import on_another_connection

    with tenant_scope(tenant):
        rep = RepFactory(tenant=tenant, partner=PartnerFactory(tenant=tenant))
    errors: list[BaseException] = []
    wrote, finish = threading.Event(), threading.Event()

    def maintenance():
        with all_tenants(), transaction.atomic():
            DealFactory(rep=rep, is_closed=True, is_won=True, close_date=dt.date(2026, 5, 2))
            wrote.set()
            finish.wait(10)

    def rebuild():
        with tenant_scope(tenant):
            won_months_rebuild(tenant=tenant)

    one = on_another_connection(maintenance, errors)
    assert wrote.wait(10)
    two = on_another_connection(rebuild, errors)
    two.join(1)
    assert two.is_alive(), "the rebuild should wait for the maintenance write"
    finish.set()
    for thread in (one, two):
        thread.join(20)
    assert not errors, errors
    _assert_in_step()
    assert _rolled_up()
