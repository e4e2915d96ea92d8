"""The Salesforce pull against a fake org over real HTTP (tests/activities/fake_salesforce.py).

No mock of the client: every request is a round trip to a WSGI server on 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connections
from django.utils import timezone
from rest_framework.test import APIClient

from activities.models import Deal, DealResync, SalesforceConnection, SalesforcePullRun
from activities.services.salesforce import (
    SalesforcePullInProgress,
    salesforce_connect,
    salesforce_pull,
    salesforce_reconcile,
)
from pse_crm.tenancy import tenant_scope
from tests.activities import fake_salesforce
from tests.activities.factories import DealFactory
from tests.activities.fake_salesforce import (
    CLIENT_ID,
    CLIENT_SECRET,
    FakeOrg,
    opportunity_id,
)
from tests.factories import make_api_key

# The fake org's fixtures.
connected = fake_salesforce.connected
org = fake_salesforce.org
sf_url = fake_salesforce.sf_url

RUN = SalesforcePullRun.Status


def _seed(fake: FakeOrg, n: int) -> list[str]:
    ids = [opportunity_id(i) for i in range(1, n + 1)]
    for i, sf_id in enumerate(ids, start=1):
        fake.tick(600)  # ten minutes apart: the overlap (five) holds only the newest
        fake.put(sf_id, Name=f"Deal {i}", Amount=1000 * i)
    return ids


def _pull(tenant, **kwargs) -> SalesforcePullRun:
    run = salesforce_pull(tenant=tenant, **kwargs)
    run.refresh_from_db()
    return run


def _key_client(tenant) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_api_key(tenant)[1]}")
    return client


def _watermark(tenant) -> dt.datetime | None:
    return SalesforceConnection.objects.get(tenant=tenant).watermark


def _stored(tenant) -> dict[str, Deal]:
    return {d.sf_id: d for d in Deal.objects.filter(tenant=tenant)}


def test_first_pull_reads_every_page_into_deals(connected, org):
    ids = _seed(org, 8)
    run = _pull(connected)
    assert (run.status, run.error) == (RUN.SUCCEEDED, "")
    assert (run.records, run.pages, run.kind) == (8, 3, SalesforcePullRun.Kind.INCREMENTAL)
    stored = _stored(connected)
    assert set(stored) == set(ids)
    assert stored[ids[6]].name == "Deal 7" and stored[ids[6]].amount == Decimal("7000.00")
    # The SOQL: queryAll, ordered, no watermark yet; pages followed through nextRecordsUrl.
    (soql,) = [q for q in org.queries() if "ORDER BY" in q]
    assert soql.endswith("FROM Opportunity ORDER BY SystemModstamp, Id")
    assert "WHERE" not in soql and "CurrencyIsoCode" not in soql
    assert sum(1 for path, _q in org.log if "/queryAll/" in path and _q == soql) == 1
    assert sum(1 for path, q in org.log if q.startswith("01gFAKE")) == 2
    newest = org.opportunities[ids[-1]]["_stamp"]
    assert run.watermark_after == newest == _watermark(connected)


def test_incremental_pull_carries_an_edit_and_a_delete(connected, org):
    ids = _seed(org, 5)
    _pull(connected)
    org.tick(3600)
    org.put(ids[1], Name="Renamed", StageName="Closed Won", IsWon=True, IsClosed=True)
    org.delete(ids[3])
    run = _pull(connected)
    assert run.status == RUN.SUCCEEDED
    soql = org.queries()[-1]
    wm = run.watermark_before
    assert "WHERE SystemModstamp >= " in soql
    # Read from the watermark less the overlap (five minutes by default).
    since = dt.datetime.fromisoformat(soql.split(">= ")[1].split()[0].replace("Z", "+00:00"))
    assert since == wm - dt.timedelta(minutes=5)
    # The two changes, and the newest of the first pull again (inside the overlap).
    assert run.records == 3
    stored = _stored(connected)
    assert stored[ids[1]].name == "Renamed" and stored[ids[1]].is_won
    assert stored[ids[3]].is_deleted
    assert not stored[ids[0]].is_deleted and len(stored) == 5
    assert run.watermark_after == org.opportunities[ids[3]]["_stamp"]


def test_a_replayed_overlap_changes_nothing(connected, org):
    _seed(org, 4)
    _pull(connected)
    before = {d.sf_id: d.updated_at for d in Deal.objects.filter(tenant=connected)}
    run = _pull(connected, full=True)  # read again, written never
    assert run.status == RUN.SUCCEEDED and run.records == 4
    assert {d.sf_id: d.updated_at for d in Deal.objects.filter(tenant=connected)} == before


def test_an_expired_session_gets_a_new_token_and_the_request_once_more(connected, org):
    _seed(org, 4)
    issued = org.tokens_issued
    org.expire_sessions(1)
    run = _pull(connected)
    assert run.status == RUN.SUCCEEDED and Deal.objects.filter(tenant=connected).count() == 4
    assert org.tokens_issued == issued + 2  # the run's first token, then one new one


def test_a_session_refused_twice_stops_the_run(connected, org):
    _seed(org, 2)
    org.expire_sessions(2)
    run = _pull(connected)
    assert run.status == RUN.FAILED
    assert "INVALID_SESSION_ID" in run.error
    assert _watermark(connected) is None and not Deal.objects.filter(tenant=connected).exists()


def test_a_secret_revoked_in_salesforce_stops_the_run_in_plain_words(connected, org):
    _seed(org, 2)
    org.client_secret = "rotated-in-salesforce"
    run = _pull(connected)
    assert run.status == RUN.FAILED
    assert "refused the app's credentials (invalid client credentials)" in run.error
    assert "enters them again" in run.error
    assert SalesforceConnection.objects.get(tenant=connected).last_error == run.error


def test_request_limit_stops_the_run_and_the_next_one_resumes(connected, org):
    ids = _seed(org, 9)
    org.fault_on_page(2, "limit")
    run = _pull(connected)
    assert run.status == RUN.FAILED
    assert "REQUEST_LIMIT_EXCEEDED" in run.error and "limit" in run.error
    # Page 1 was committed: the watermark is its last record, not a step further.
    assert (run.pages, run.records) == (1, 3)
    assert _watermark(connected) == org.opportunities[ids[2]]["_stamp"]
    assert SalesforceConnection.objects.get(tenant=connected).last_error == run.error

    org.limit_exceeded = True
    blocked = _pull(connected)
    assert blocked.status == RUN.FAILED and blocked.pages == 0
    assert _watermark(connected) == org.opportunities[ids[2]]["_stamp"]  # unchanged

    org.limit_exceeded = False
    resumed = _pull(connected)
    assert resumed.status == RUN.SUCCEEDED
    assert set(_stored(connected)) == set(ids)
    assert SalesforceConnection.objects.get(tenant=connected).last_error == ""


@pytest.mark.parametrize("fault", ["drop", "malformed", "500"])
def test_a_run_broken_on_page_three_resumes_without_loss_or_duplicates(connected, org, fault):
    ids = _seed(org, 12)
    org.fault_on_page(3, fault)
    run = _pull(connected)
    assert run.status == RUN.FAILED and run.pages == 2
    assert run.error  # in plain words, e.g. "the connection dropped"
    assert Deal.objects.filter(tenant=connected).count() == 6
    assert _watermark(connected) == org.opportunities[ids[5]]["_stamp"]
    org.tick(60)
    org.put(ids[0], Name="Edited meanwhile")
    resumed = _pull(connected)
    assert resumed.status == RUN.SUCCEEDED
    stored = _stored(connected)
    assert sorted(stored) == sorted(ids)  # one row per Opportunity: none lost, none twice
    assert stored[ids[0]].name == "Edited meanwhile"


def test_a_malformed_record_stops_the_run_with_its_error(connected, org):
    ids = _seed(org, 6)
    org.put(ids[4], SystemModstamp=None)  # stamped by put; then broken below
    org.opportunities[ids[4]]["CloseDate"] = "31/03/2026"
    run = _pull(connected)
    assert run.status == RUN.FAILED
    assert "Page 2" in run.error and "CloseDate" in run.error
    assert Deal.objects.filter(tenant=connected).count() == 3


def test_single_currency_org_pulls_without_currency_fields(connected, org):
    _seed(org, 2)
    run = _pull(connected)
    assert run.status == RUN.SUCCEEDED
    conn = SalesforceConnection.objects.get(tenant=connected)
    assert conn.is_multicurrency is False
    assert any("FROM CurrencyType" in q for _p, q in org.log)  # asked once, refused
    assert all("convertCurrency" not in q for q in org.queries())
    deal = Deal.objects.filter(tenant=connected).first()
    assert deal.currency == connected.corporate_currency


def test_multi_currency_org_pulls_rates_and_converted_amounts(tenant, sf_url, org):
    org.multicurrency = True
    org.currency_types = [
        {"IsoCode": "JPY", "ConversionRate": 1, "IsCorporate": True, "IsActive": True},
        {"IsoCode": "USD", "ConversionRate": 0.0065, "IsCorporate": False, "IsActive": True},
    ]
    org.dated_rates = [
        {
            "IsoCode": "USD",
            "ConversionRate": 0.007,
            "StartDate": "2026-01-01",
            "NextStartDate": "2026-07-01",
        }
    ]
    org.put(opportunity_id(1), Amount=650, CurrencyIsoCode="USD")
    org.put(opportunity_id(2), Amount=5000, CurrencyIsoCode="JPY")
    with tenant_scope(tenant):
        salesforce_connect(
            tenant=tenant, instance_url=sf_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET
        )
        run = _pull(tenant)
        assert run.status == RUN.SUCCEEDED, run.error
        assert SalesforceConnection.objects.get(tenant=tenant).is_multicurrency is True
        from activities.models import CurrencyRate, DatedCurrencyRate

        assert set(CurrencyRate.objects.values_list("iso_code", flat=True)) == {"JPY", "USD"}
        assert DatedCurrencyRate.objects.filter(iso_code="USD").count() == 1
        soql = org.queries()[-1]
        assert "CurrencyIsoCode" in soql and "convertCurrency(Amount) convertedAmount" in soql
        usd = Deal.objects.get(sf_id=opportunity_id(1))
        assert usd.currency == "USD" and usd.amount == Decimal("650.00")
        assert usd.amount_corporate == Decimal("100000.00")  # Salesforce's own conversion


def test_the_resync_list_is_fetched_in_full_and_cleared(connected, org):
    ids = _seed(org, 5)
    _pull(connected)
    # Changes Salesforce stamped before the watermark (e.g. lost change events).
    org.put(
        ids[0],
        Name="Lost change",
        SystemModstamp=org.opportunities[ids[0]]["_stamp"] + dt.timedelta(seconds=0.5),
    )
    DealResync.objects.create(tenant=connected, sf_id=ids[0], reason="GAP_UPDATE")
    DealResync.objects.create(tenant=connected, sf_id="not an id'--", reason="GAP_UPDATE")
    run = _pull(connected)
    assert run.status == RUN.SUCCEEDED
    assert any(f"WHERE Id IN ('{ids[0]}')" in q for q in org.queries())
    assert _stored(connected)[ids[0]].name == "Lost change"
    assert not DealResync.objects.filter(tenant=connected).exists()


def test_full_pull_reads_everything_again(connected, org):
    _seed(org, 4)
    _pull(connected)
    run = _pull(connected, full=True)
    assert run.kind == SalesforcePullRun.Kind.FULL and run.records == 4
    assert "WHERE" not in org.queries()[-1]


def test_reconciliation_soft_deletes_what_salesforce_no_longer_has(connected, org):
    ids = _seed(org, 7)
    _pull(connected)
    org.purge(ids[2])
    org.delete(ids[4])  # in the recycle bin: Salesforce still has it
    Deal.objects.filter(tenant=connected).update(
        system_modstamp=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    )
    run = salesforce_reconcile(tenant=connected)
    assert (run.status, run.kind) == (RUN.SUCCEEDED, SalesforcePullRun.Kind.RECONCILE)
    assert (run.records, run.soft_deleted) == (6, 1)
    assert "SELECT Id FROM Opportunity" in org.queries()[-1]
    deleted = set(
        Deal.objects.filter(tenant=connected, is_deleted=True).values_list("sf_id", flat=True)
    )
    assert deleted == {ids[2]}
    assert Deal.objects.filter(tenant=connected).count() == 7  # soft: kept


def test_reconciliation_stopped_midway_deletes_nothing(connected, org):
    ids = _seed(org, 7)
    _pull(connected)
    org.purge(ids[0])
    Deal.objects.filter(tenant=connected).update(
        system_modstamp=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    )
    org.fault_on_page(2, "500")
    run = salesforce_reconcile(tenant=connected)
    assert run.status == RUN.FAILED and run.soft_deleted == 0
    assert not Deal.objects.filter(tenant=connected, is_deleted=True).exists()


def test_reconciliation_spares_a_deal_changed_while_it_ran(connected, org):
    """A deal Salesforce stamped after the id query began (pushed to us meanwhile) may be
    missing from the ids read: it is never soft-deleted."""
    _seed(org, 3)
    _pull(connected)
    fresh = DealFactory(tenant=connected, sf_id=opportunity_id(99), system_modstamp=timezone.now())
    run = salesforce_reconcile(tenant=connected)
    assert run.status == RUN.SUCCEEDED and run.soft_deleted == 0
    fresh.refresh_from_db()
    assert not fresh.is_deleted


def test_reconciliation_refuses_an_org_that_shows_nothing(connected, org):
    ids = _seed(org, 2)
    _pull(connected)
    Deal.objects.filter(tenant=connected).update(
        system_modstamp=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    )
    for sf_id in ids:
        org.purge(sf_id)
    run = salesforce_reconcile(tenant=connected)
    assert run.status == RUN.FAILED and "no Opportunity" in run.error
    assert not Deal.objects.filter(tenant=connected, is_deleted=True).exists()


def test_the_pull_command(connected, org, capsys):
    _seed(org, 4)
    call_command("salesforce_pull", "--tenant", connected.slug)
    assert "4 records in 2 pages" in capsys.readouterr().out
    org.limit_exceeded = True
    with pytest.raises(CommandError, match="REQUEST_LIMIT_EXCEEDED"):
        call_command("salesforce_pull", "--tenant", connected.slug, "--full")


def test_the_reconcile_command(connected, org, capsys):
    _seed(org, 2)
    _pull(connected)
    call_command("salesforce_reconcile", "--tenant", connected.slug)
    assert "2 Opportunity ids in Salesforce; 0 stored deals soft-deleted" in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_two_pulls_of_one_tenant_never_overlap(tenant, org, sf_url, capsys):
    """A pull holds the tenant's lock for its whole run: a second one, on another
    connection, stops at once saying so and records nothing; another tenant is free."""
    with tenant_scope(tenant):
        salesforce_connect(
            tenant=tenant, instance_url=sf_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET
        )
    _seed(org, 9)
    entered, release = threading.Event(), threading.Event()
    original = org._page

    def slow_page(cursor, start, *, page):  # the server holds page 2 until released
        if page == 2:
            entered.set()
            release.wait(10)
        return original(cursor, start, page=page)

    org._page = slow_page
    results: list = []

    def first():
        try:
            with tenant_scope(tenant):
                results.append(salesforce_pull(tenant=tenant))
        finally:
            connections.close_all()

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert entered.wait(10)
        with tenant_scope(tenant):
            with pytest.raises(SalesforcePullInProgress):
                salesforce_pull(tenant=tenant)
            call_command("salesforce_pull", "--tenant", tenant.slug)
            assert "already running" in capsys.readouterr().out
            # Pages load meanwhile: the committed first page is readable, nothing waits.
            assert Deal.objects.count() == 3
            assert SalesforcePullRun.objects.count() == 1
        # Ingestion too: the push endpoint syncs a deal while the pull waits on page 2.
        pushed = _key_client(tenant).post(
            "/api/v1/deals/sync/",
            [{"sf_id": opportunity_id(500), "system_modstamp": "2026-01-01T00:00:00Z"}],
            format="json",
        )
        assert pushed.status_code == 200, pushed.content
    finally:
        release.set()
        thread.join(20)
    assert results and results[0].status == RUN.SUCCEEDED
    with tenant_scope(tenant):
        assert Deal.objects.count() == 10
        # The lock was released: the next pull runs.
        assert salesforce_pull(tenant=tenant).status == RUN.SUCCEEDED


@pytest.mark.django_db(transaction=True)
def test_a_pull_killed_mid_run_resumes_without_loss_or_duplicates(tenant, org, sf_url):
    """Committed pages stay, the run left "running" is closed by the next one, which
    resumes from the watermark of the last committed page."""
    with tenant_scope(tenant):
        salesforce_connect(
            tenant=tenant, instance_url=sf_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET
        )
    ids = _seed(org, 10)
    original = org._page

    class Killed(BaseException):
        pass

    def dying_page(cursor, start, *, page):
        if page == 3:
            raise Killed  # the server never answers page 3 (the worker is killed meanwhile)
        return original(cursor, start, page=page)

    org._page = dying_page
    with tenant_scope(tenant):
        # The client gives up on a connection closed without an answer.
        run = salesforce_pull(tenant=tenant)
        assert run.status == RUN.FAILED and run.pages == 2
        assert Deal.objects.count() == 6
        # A process killed outright leaves its run "running"; the next run closes it.
        SalesforcePullRun.objects.filter(pk=run.pk).update(status=RUN.RUNNING, finished_at=None)
        org._page = original
        resumed = salesforce_pull(tenant=tenant)
        assert resumed.status == RUN.SUCCEEDED
        assert SalesforcePullRun.objects.get(pk=run.pk).status == RUN.FAILED
        assert "Interrupted" in SalesforcePullRun.objects.get(pk=run.pk).error
        assert sorted(Deal.objects.values_list("sf_id", flat=True)) == sorted(ids)


def test_a_field_mapping_that_is_no_field_name_never_reaches_soql(connected, org):
    from activities.models import SyncSettings

    _seed(org, 2)
    SyncSettings.objects.create(
        tenant=connected, partner_field="Id FROM Account --", rep_field="OwnerId"
    )
    run = _pull(connected)
    assert run.status == RUN.FAILED and "not a Salesforce field name" in run.error
    assert not org.queries()[1:]  # only the connect probe reached Salesforce
