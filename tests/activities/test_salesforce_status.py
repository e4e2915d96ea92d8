"""The connector's settings page, status API, tasks and tenant isolation, against the fake
org over real HTTP."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from activities.models import Deal, DealResync, SalesforceConnection, SalesforcePullRun
from activities.selectors import salesforce_status
from activities.services.salesforce import salesforce_connect, salesforce_pull
from activities.tasks import salesforce_pull_all, salesforce_reconcile_all
from pse_crm.roles import Role
from pse_crm.tenancy import TenantScopeError, tenant_scope
from tests.activities import fake_salesforce
from tests.activities.fake_salesforce import (
    CLIENT_ID,
    CLIENT_SECRET,
    ORG_ID,
    FakeOrg,
    opportunity_id,
    serve,
)
from tests.factories import MembershipFactory, make_api_key
from tests.helpers import member_api_client

# The fake org's fixtures.
connected = fake_salesforce.connected
org = fake_salesforce.org
sf_url = fake_salesforce.sf_url

PAGE = "settings-salesforce-connection"


def _seed(fake, n):
    for i in range(1, n + 1):
        fake.tick(600)
        fake.put(opportunity_id(i), Name=f"Deal {i}")


def _connect(tenant, url):
    with tenant_scope(tenant):
        return salesforce_connect(
            tenant=tenant, instance_url=url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET
        )


# --- the page ------------------------------------------------------------------------


def test_an_owner_connects_from_the_page_and_never_sees_the_secret_again(
    owner_client, tenant, sf_url
):
    page = owner_client.get(reverse(PAGE))
    assert page.status_code == 200 and "Not connected" in page.content.decode()
    response = owner_client.post(
        reverse(PAGE),
        {
            "instance_url": sf_url,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "api_version": "62.0",
        },
    )
    assert response.status_code == 302
    with tenant_scope(tenant):
        assert SalesforceConnection.objects.get().org_id == ORG_ID
    body = owner_client.get(reverse(PAGE)).content.decode()
    assert ORG_ID in body and sf_url in body
    assert CLIENT_SECRET not in body
    with tenant_scope(tenant):
        assert SalesforceConnection.objects.get().client_secret_encrypted not in body


def test_wrong_credentials_on_the_page_show_salesforces_words(owner_client, tenant, sf_url):
    response = owner_client.post(
        reverse(PAGE),
        {
            "instance_url": sf_url,
            "client_id": CLIENT_ID,
            "client_secret": "wrong",
            "api_version": "62.0",
        },
    )
    assert response.status_code == 200
    assert "invalid client credentials" in response.content.decode()
    with tenant_scope(tenant):
        assert not SalesforceConnection.objects.exists()


def test_a_non_https_url_on_the_page_is_refused(owner_client, tenant):
    response = owner_client.post(
        reverse(PAGE),
        {
            "instance_url": "http://example.my.salesforce.com",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "api_version": "62.0",
        },
    )
    assert response.status_code == 200 and "https://" in response.content.decode()
    with tenant_scope(tenant):
        assert not SalesforceConnection.objects.exists()


def test_the_page_shows_the_last_run_errors_lag_and_resync_list(owner_client, tenant, org, sf_url):
    _connect(tenant, sf_url)
    _seed(org, 4)
    org.fault_on_page(2, "limit")
    with tenant_scope(tenant):
        salesforce_pull(tenant=tenant)
        DealResync.objects.create(tenant=tenant, sf_id=opportunity_id(42), reason="GAP_OVERFLOW")
    body = owner_client.get(reverse(PAGE)).content.decode()
    assert "REQUEST_LIMIT_EXCEEDED" in body and "The last run failed" in body
    assert "3 records in 1 pages" in body
    assert "No successful pull yet" in body
    assert opportunity_id(42) in body
    with tenant_scope(tenant):
        salesforce_pull(tenant=tenant)
    body = owner_client.get(reverse(PAGE)).content.decode()
    assert "The last run failed" not in body and "at most" in body


def test_pull_now_queues_a_pull_for_owners(
    owner_client, tenant, org, sf_url, django_capture_on_commit_callbacks
):
    _connect(tenant, sf_url)
    _seed(org, 2)
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(reverse("settings-salesforce-pull"))
    assert response.status_code == 302
    with tenant_scope(tenant):
        run = SalesforcePullRun.objects.get()
        assert (run.trigger, run.status, run.records) == ("manual", "succeeded", 2)
        assert Deal.objects.count() == 2


def test_pull_now_without_a_connection_says_so(owner_client):
    response = owner_client.post(reverse("settings-salesforce-pull"), follow=True)
    assert "not connected" in response.content.decode()


def test_removing_from_the_page(owner_client, tenant, sf_url):
    _connect(tenant, sf_url)
    assert owner_client.post(reverse("settings-salesforce-disconnect")).status_code == 302
    with tenant_scope(tenant):
        assert not SalesforceConnection.objects.exists()


@pytest.mark.parametrize("role", [Role.MANAGER, Role.STAFF, Role.VIEWER])
def test_the_page_and_its_actions_are_for_owners(client, tenant, role, sf_url):
    _connect(tenant, sf_url)
    client.force_login(MembershipFactory(tenant=tenant, role=role).user)
    assert client.get(reverse(PAGE)).status_code == 403
    assert client.post(reverse("settings-salesforce-pull")).status_code == 403
    assert client.post(reverse("settings-salesforce-disconnect")).status_code == 403
    with tenant_scope(tenant):
        assert SalesforceConnection.objects.exists()


def test_the_settings_tabs_link_the_connection_page(owner_client):
    body = owner_client.get(reverse("settings-salesforce")).content.decode()
    assert reverse(PAGE) in body


# --- the API -------------------------------------------------------------------------


def test_status_api(tenant, org, sf_url):
    _connect(tenant, sf_url)
    _seed(org, 5)
    with tenant_scope(tenant):
        salesforce_pull(tenant=tenant)
        DealResync.objects.create(tenant=tenant, sf_id=opportunity_id(77), reason="GAP_UPDATE")
    response = member_api_client(tenant, Role.MANAGER).get(reverse("api-salesforce-status"))
    assert response.status_code == 200
    data = response.json()
    assert data["connected"] is True and data["connection"]["org_id"] == ORG_ID
    assert data["connection"]["is_multicurrency"] is False
    assert data["last_pull"]["records"] == 5 and data["last_pull"]["pages"] == 2
    assert data["last_pull"]["status"] == "succeeded" and data["last_pull"]["finished_at"]
    assert 0 <= data["lag_seconds"] < 600
    assert data["resync_count"] == 1 and data["resync_ids"] == [opportunity_id(77)]
    text = response.content.decode()
    assert CLIENT_SECRET not in text and "client_secret" not in text and CLIENT_ID not in text


def test_status_api_for_an_integration_key_and_not_for_staff(tenant, api_client):
    assert api_client.get(reverse("api-salesforce-status")).json()["connected"] is False
    staff = member_api_client(tenant, Role.STAFF)
    assert staff.get(reverse("api-salesforce-status")).status_code == 403
    assert APIClient().get(reverse("api-salesforce-status")).status_code == 401


def test_pull_api_queues_for_owners_only(
    tenant, org, sf_url, api_client, django_capture_on_commit_callbacks
):
    owner = member_api_client(tenant, Role.OWNER)
    assert owner.post(reverse("api-salesforce-pull"), {}, format="json").status_code == 409
    _connect(tenant, sf_url)
    _seed(org, 3)
    assert (
        member_api_client(tenant, Role.MANAGER).post(reverse("api-salesforce-pull")).status_code
        == 403
    )
    assert api_client.post(reverse("api-salesforce-pull")).status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        response = owner.post(reverse("api-salesforce-pull"), {"full": True}, format="json")
    assert response.status_code == 202
    with tenant_scope(tenant):
        run = SalesforcePullRun.objects.get()
        assert (run.kind, run.records, run.trigger) == ("full", 3, "manual")
    bad = owner.post(reverse("api-salesforce-pull"), {"full": "maybe"}, format="json")
    assert bad.status_code == 400


# --- isolation -----------------------------------------------------------------------


def test_another_tenant_sees_none_of_the_connection(tenant, other_tenant, org, sf_url, client):
    _connect(tenant, sf_url)
    _seed(org, 2)
    org.fault_on_page(1, "500")
    with tenant_scope(tenant):
        salesforce_pull(tenant=tenant)
        DealResync.objects.create(tenant=tenant, sf_id=opportunity_id(5), reason="GAP_UPDATE")
    rival_owner = MembershipFactory(tenant=other_tenant, role=Role.OWNER).user
    client.force_login(rival_owner)
    body = client.get(reverse(PAGE)).content.decode()
    assert "Not connected" in body and ORG_ID not in body and opportunity_id(5) not in body
    for c in (member_api_client(other_tenant, Role.OWNER), _key_client(other_tenant)):
        data = c.get(reverse("api-salesforce-status")).json()
        assert data["connected"] is False and data["last_pull"] is None
        assert data["resync_count"] == 0 and data["recent_runs"] == []
    # "Pull now" as the other tenant's owner: their own (missing) connection, not ours.
    assert client.post(reverse("settings-salesforce-pull")).status_code == 302
    assert client.post(reverse("settings-salesforce-disconnect")).status_code == 302
    with tenant_scope(tenant):
        assert SalesforceConnection.objects.exists()
        assert SalesforcePullRun.objects.count() == 1


def _key_client(tenant):
    c = APIClient()
    c.credentials(HTTP_AUTHORIZATION=f"Bearer {make_api_key(tenant)[1]}")
    return c


def test_two_tenants_pull_their_own_orgs(tenant, other_tenant):
    first, second = FakeOrg(page_size=2), FakeOrg(page_size=2)
    first.put(opportunity_id(1), Name="Acme's deal")
    second.put(opportunity_id(1), Name="Rival's deal")  # the same Salesforce id
    second.put(opportunity_id(2), Name="Rival's other deal")
    with serve(first) as url1, serve(second) as url2:
        _connect(tenant, url1)
        _connect(other_tenant, url2)
        for t in (tenant, other_tenant):
            with tenant_scope(t):
                assert salesforce_pull(tenant=t).status == "succeeded"
    with tenant_scope(tenant):
        assert list(Deal.objects.values_list("name", flat=True)) == ["Acme's deal"]
        assert salesforce_status(tenant=tenant).last_pull.records == 1
    with tenant_scope(other_tenant):
        assert sorted(Deal.objects.values_list("name", flat=True)) == [
            "Rival's deal",
            "Rival's other deal",
        ]


def test_services_and_selectors_refuse_another_tenant(tenant, other_tenant):
    from activities.services.salesforce import (
        salesforce_disconnect,
        salesforce_pull_queue,
        salesforce_reconcile,
    )

    with tenant_scope(tenant):
        for call in (
            lambda: salesforce_pull(tenant=other_tenant),
            lambda: salesforce_reconcile(tenant=other_tenant),
            lambda: salesforce_disconnect(tenant=other_tenant),
            lambda: salesforce_pull_queue(tenant=other_tenant),
            lambda: salesforce_status(tenant=other_tenant),
        ):
            with pytest.raises(TenantScopeError):
                call()


# --- tasks ---------------------------------------------------------------------------


def test_the_beat_fans_out_one_pull_per_connected_tenant(tenant, other_tenant, org, sf_url):
    """Tasks run in-process in the tests (CELERY_TASK_ALWAYS_EAGER): each queued pull runs."""
    from tests.factories import TenantFactory

    _connect(tenant, sf_url)
    idle = TenantFactory(slug="idle")
    _connect(idle, sf_url)
    idle.is_active = False
    idle.save()
    _seed(org, 3)
    assert salesforce_pull_all() == 1
    with tenant_scope(tenant):
        run = SalesforcePullRun.objects.get()
        assert (run.trigger, run.records) == ("schedule", 3)
    for t in (other_tenant, idle):
        with tenant_scope(t):
            assert not SalesforcePullRun.objects.exists()


def test_the_nightly_reconciliation_picks_tenants_at_three_local(tenant, other_tenant, sf_url):
    hour = timezone.now().astimezone(dt.UTC).hour
    offset = (3 - hour) % 24
    offset = offset - 24 if offset > 14 else offset
    tenant.timezone = f"Etc/GMT{-offset:+d}" if offset else "UTC"
    tenant.save()
    other_tenant.timezone = f"Etc/GMT{-(offset + 6 if offset < 8 else offset - 6):+d}"
    other_tenant.save()
    _connect(tenant, sf_url)
    _connect(other_tenant, sf_url)
    assert salesforce_reconcile_all() == 1
    with tenant_scope(tenant):
        assert SalesforcePullRun.objects.get().kind == "reconcile"
    with tenant_scope(other_tenant):
        assert not SalesforcePullRun.objects.exists()


def test_beat_entries_expire_and_use_the_salesforce_queue(settings):
    from pse_crm.celery import Queues

    for name in ("salesforce-pull", "salesforce-reconcile"):
        entry = settings.CELERY_BEAT_SCHEDULE[name]
        assert entry["options"]["queue"] == Queues.SALESFORCE
        assert 0 < entry["options"]["expires"] <= 50 * 60
    assert salesforce_pull_all.queue == Queues.SALESFORCE


@pytest.mark.celery_worker
def test_a_real_worker_pulls_from_the_salesforce_queue(celery_worker, tenant, org, sf_url):
    """Beat's fan-out on Redis; a real worker consumes the ``salesforce`` queue, enters the
    tenant's scope and pulls the fake org over HTTP."""
    import time

    from activities.tasks import salesforce_pull as pull_task

    _connect(tenant, sf_url)
    _seed(org, 5)
    assert salesforce_pull_all.delay().get(timeout=60) == 1
    deadline = time.monotonic() + 60
    with tenant_scope(tenant):
        while time.monotonic() < deadline:
            run = SalesforcePullRun.objects.filter(status="succeeded").first()
            if run is not None:
                break
            time.sleep(0.2)
        assert run is not None and (run.trigger, run.records) == ("schedule", 5)
        assert Deal.objects.count() == 5
    # A manual pull through the queue too, answered with the run's outcome.
    outcome = pull_task.apply_async(args=[tenant.pk], kwargs={"full": True}).get(timeout=60)
    assert outcome["status"] == "succeeded" and outcome["records"] == 5
