"""POST /api/v1/salesforce/outbound/<key>/: Salesforce Outbound Messages (SOAP)."""

from __future__ import annotations

import datetime as dt
import io
import logging
from decimal import Decimal
from pathlib import Path

import defusedxml.ElementTree as ET
import psycopg
import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from activities.models import Deal, SalesforceConnection, SyncSettings
from activities.services.deals import _SYNC_LOCK_CLASS
from pse_crm.models import TenantAPIKey
from pse_crm.sfid import to_18
from pse_crm.tenancy import tenant_scope
from tests.activities.factories import DealFactory
from tests.partners.factories import PartnerFactory
from tests.reps.factories import RepFactory

FIXTURES = Path(__file__).parent / "fixtures"
MESSAGE = (FIXTURES / "outbound_opportunity.xml").read_bytes()
OPP1, OPP2 = to_18("006A000000Opp01"), to_18("006A000000Opp02")
SOAP = "{http://schemas.xmlsoap.org/soap/envelope/}"
OUTBOUND = "{http://soap.sforce.com/2005/09/outbound}"


def url(raw_key: str, *, slash: bool = True) -> str:
    return f"/api/v1/salesforce/outbound/{raw_key}" + ("/" if slash else "")


def send(raw_key: str, body: bytes = MESSAGE, *, client=None, slash=True, **extra):
    client = client or Client()
    extra.setdefault("content_type", "text/xml; charset=utf-8")
    return client.post(url(raw_key, slash=slash), data=body, HTTP_SOAPACTION='""', **extra)


def is_ack(response) -> bool:
    """The response is Salesforce's notificationsResponse with Ack true."""
    if response.status_code != 200 or not response["Content-Type"].startswith("text/xml"):
        return False
    root = ET.fromstring(response.content)
    return root.findtext(f"{SOAP}Body/{OUTBOUND}notificationsResponse/{OUTBOUND}Ack") == "true"


def fault_text(response) -> str:
    root = ET.fromstring(response.content)
    fault = root.find(f"{SOAP}Body/{SOAP}Fault")
    assert fault is not None, response.content
    return fault.findtext("faultstring")


def deals(tenant) -> dict[str, Deal]:
    with tenant_scope(tenant):
        return {d.sf_id: d for d in Deal.objects.all()}


def outbound_key(tenant, scopes: str = "outbound") -> tuple[TenantAPIKey, str]:
    return TenantAPIKey.objects.create_key(tenant=tenant, name=f"sf {scopes}", scopes=scopes)


def message(*sobjects: str) -> bytes:
    """An Outbound Message holding the given sObject bodies (sf: fields)."""
    notifications = "".join(
        f"<Notification><Id>{to_18(f'04lA000000Not{n:02d}')}</Id>"
        '<sObject xsi:type="sf:Opportunity" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        f"{fields}</sObject></Notification>"
        for n, fields in enumerate(sobjects, start=1)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
        '<notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        "<OrganizationId>00DA000000Org01MAB</OrganizationId>"
        '<ActionId>04kA000000Act01IAB</ActionId><SessionId xsi:nil="true"/>'
        "<EnterpriseUrl>https://acme.my.salesforce.com/services/Soap/c/62.0</EnterpriseUrl>"
        "<PartnerUrl>https://acme.my.salesforce.com/services/Soap/u/62.0</PartnerUrl>"
        f"{notifications}</notifications></soapenv:Body></soapenv:Envelope>"
    ).encode()


def opportunity(sf_id: str = OPP1, stamp: str = "2026-03-31T09:00:00.000Z", **fields) -> str:
    parts = [f"<sf:Id>{sf_id}</sf:Id>", f"<sf:SystemModstamp>{stamp}</sf:SystemModstamp>"]
    parts += [f"<sf:{name}>{value}</sf:{name}>" for name, value in fields.items()]
    return "".join(parts)


@pytest.fixture
def key(tenant):
    return outbound_key(tenant)[1]


@pytest.fixture
def rep(tenant):
    partner = PartnerFactory(tenant=tenant, external_id=to_18("001A000000Acc01"))
    return RepFactory(partner=partner, salesforce_user_id=to_18("005A000000Own01"))


# --- the documented message -----------------------------------------------------------


@pytest.mark.django_db
def test_the_documented_message_is_stored_then_acknowledged(tenant, key, rep):
    response = send(key)
    assert is_ack(response), response.content
    stored = deals(tenant)
    assert set(stored) == {OPP1, OPP2}
    won = stored[OPP1]
    assert (won.name, won.stage, won.is_won, won.is_closed) == (
        "Acme renewal & upsell",
        "Closed Won",
        True,
        True,
    )
    assert (won.amount, won.currency, won.close_date) == (
        Decimal("1200000.00"),
        "JPY",
        dt.date(2026, 3, 31),
    )
    assert won.partner == rep.partner and won.rep == rep
    assert won.system_modstamp == dt.datetime(2026, 3, 31, 9, 0, tzinfo=dt.UTC)
    # The second record carried a nil Amount and four fields: a new deal, defaults elsewhere.
    other = stored[OPP2]
    assert (other.stage, other.amount, other.is_won, other.rep) == (
        "Negotiation/Review",
        None,
        False,
        None,
    )


@pytest.mark.django_db
def test_without_the_trailing_slash_too_never_redirected(tenant, key):
    response = send(key, slash=False)
    assert is_ack(response), (response.status_code, response.content)
    assert set(deals(tenant)) == {OPP1, OPP2}


@pytest.mark.django_db
def test_only_the_fields_picked_change_a_stored_deal_and_nil_empties(tenant, key):
    with tenant_scope(tenant):
        DealFactory(
            tenant=tenant,
            sf_id=OPP1,
            name="Kept name",
            amount=Decimal("500.00"),
            stage="Prospecting",
            close_date=dt.date(2026, 6, 30),
            system_modstamp=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
        )
    body = message(
        opportunity(StageName="Closed Lost", IsClosed="true") + '<sf:Amount xsi:nil="true"/>'
    )
    assert is_ack(send(key, body))
    deal = deals(tenant)[OPP1]
    assert (deal.name, deal.close_date) == ("Kept name", dt.date(2026, 6, 30))
    assert (deal.stage, deal.is_closed, deal.amount) == ("Closed Lost", True, None)


@pytest.mark.django_db
def test_a_retried_message_is_acknowledged_and_changes_nothing(tenant, key):
    assert is_ack(send(key))
    before = {k: (d.updated_at, d.name, d.amount) for k, d in deals(tenant).items()}
    for _attempt in range(3):
        assert is_ack(send(key))
    after = deals(tenant)
    assert len(after) == 2
    assert {k: (d.updated_at, d.name, d.amount) for k, d in after.items()} == before


# --- not acknowledged ---------------------------------------------------------------


@pytest.mark.django_db
def test_a_bad_record_is_a_fault_naming_it_and_nothing_is_stored(tenant, key):
    body = message(opportunity(OPP1), opportunity(OPP2, Amount="a lot"))
    response = send(key, body)
    assert response.status_code == 500 and not is_ack(response)
    text = fault_text(response)
    assert "Notification 1" in text and "Amount" in text
    assert to_18("04lA000000Not02") in text
    assert deals(tenant) == {}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        message(opportunity()).replace(b"sf:Opportunity", b"sf:Account"),
        b"<notifications/>",
        b"not xml at all",
        b"",
    ],
    ids=["another-object", "no-envelope", "malformed", "empty"],
)
def test_not_an_opportunity_message_is_a_fault(tenant, key, body):
    response = send(key, body)
    assert response.status_code == 500 and not is_ack(response)
    assert fault_text(response)
    assert deals(tenant) == {}


@pytest.mark.django_db
def test_a_body_that_is_not_xml_is_a_fault(tenant, key):
    response = send(key, b'{"records": []}', content_type="application/json")
    assert response.status_code == 500 and not is_ack(response)
    assert deals(tenant) == {}


@pytest.mark.django_db
def test_when_the_database_refuses_the_write_there_is_no_ack_and_a_retry_stores_it(tenant, key):
    # A rule of the database itself, not of this code: a CHECK constraint the row breaks.
    table = connection.ops.quote_name(Deal._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT outbound_test_refuse "
            "CHECK (name NOT LIKE 'Acme renewal%%')"
        )
    response = send(key)
    assert response.status_code == 500 and not is_ack(response)
    assert "could not be stored" in fault_text(response)
    assert deals(tenant) == {}
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT outbound_test_refuse")
    # Salesforce sends it again: now stored, once.
    assert is_ack(send(key))
    assert is_ack(send(key))
    assert set(deals(tenant)) == {OPP1, OPP2}


def _other_connection():
    s = connection.settings_dict
    return psycopg.connect(
        dbname=s["NAME"],
        user=s["USER"] or "postgres",
        password=s["PASSWORD"] or None,
        host=s["HOST"] or "127.0.0.1",
        port=s["PORT"] or 5432,
        autocommit=True,
    )


@pytest.mark.django_db(transaction=True)
def test_a_lock_timeout_is_a_fault_and_the_ack_comes_after_the_commit(tenant, key):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL locks")
    with _other_connection() as other:
        # Another sync of this tenant holds its lock; the database gives up waiting.
        other.execute("SELECT pg_advisory_lock(%s, %s)", [_SYNC_LOCK_CLASS, tenant.pk])
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '200ms'")
        try:
            response = send(key)
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET lock_timeout")
            other.execute("SELECT pg_advisory_unlock(%s, %s)", [_SYNC_LOCK_CLASS, tenant.pk])
        assert response.status_code == 500 and not is_ack(response)
        assert deals(tenant) == {}
        assert is_ack(send(key))
        # Acknowledged means committed: another connection sees the rows.
        table = Deal._meta.db_table
        count = other.execute(
            f"SELECT count(*) FROM {table} WHERE tenant_id = %s", [tenant.pk]
        ).fetchone()[0]
    assert count == 2


# --- the key ------------------------------------------------------------------------


def _wrong_secret(key: str) -> str:
    """``key`` with its last character changed (never to itself)."""
    return key[:-1] + ("y" if key.endswith("x") else "x")


def _revoked(tenant):
    api_key, raw = outbound_key(tenant)
    api_key.revoked = True
    api_key.save()
    return raw


def _expired(tenant):
    api_key, raw = outbound_key(tenant)
    api_key.expiry_date = timezone.now() - dt.timedelta(minutes=1)
    api_key.save()
    return raw


def _inactive_tenant(tenant):
    raw = outbound_key(tenant)[1]
    tenant.is_active = False
    tenant.save()
    return raw


@pytest.mark.django_db
@pytest.mark.parametrize(
    "make_key",
    [
        lambda t: outbound_key(t, scopes="write")[1],
        lambda t: outbound_key(t, scopes="read,write")[1],
        _revoked,
        _expired,
        _inactive_tenant,
        lambda t: _wrong_secret(outbound_key(t)[1]),  # the right prefix, a wrong secret
        lambda t: outbound_key(t)[0].prefix,  # the prefix alone
        lambda t: "nonsense",
        lambda t: "%00" + outbound_key(t)[1],
    ],
    ids=[
        "write-scope",
        "read-write-scope",
        "revoked",
        "expired",
        "inactive-tenant",
        "wrong-secret",
        "prefix-only",
        "nonsense",
        "nul",
    ],
)
def test_a_key_that_may_not_send_outbound_messages_gets_no_ack(tenant, make_key):
    raw = make_key(tenant)
    response = send(raw)
    assert response.status_code == 401
    assert b"Ack" not in response.content
    assert fault_text(response)
    with tenant_scope(tenant):
        assert not Deal.objects.exists()


@pytest.mark.django_db
def test_a_session_is_not_a_key_and_needs_no_csrf_token(tenant, key, manager_client):
    # A logged-in member's session reaches nothing here: the key decides.
    response = manager_client.post(
        url("nokey.nokey"), data=MESSAGE, content_type="text/xml; charset=utf-8"
    )
    assert response.status_code == 401
    # And no CSRF token is needed with a key (Salesforce has none).
    csrf_client = Client(enforce_csrf_checks=True)
    assert is_ack(send(key, client=csrf_client))


@pytest.mark.django_db
def test_a_key_with_the_outbound_scope_reaches_nothing_else(tenant, key):
    client = Client()
    response = client.get("/api/v1/deals/", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code in (401, 403)


# --- hostile XML ------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<lolz>&lol9;</lolz>"""
EXTERNAL_ENTITY = MESSAGE.replace(
    b'<?xml version="1.0" encoding="UTF-8"?>',
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<!DOCTYPE e [<!ENTITY secret SYSTEM "file:///etc/passwd">]>',
).replace(b"Acme renewal &amp; upsell", b"&secret;")
DTD_ONLY = MESSAGE.replace(
    b"<soapenv:Envelope",
    b'<!DOCTYPE soapenv:Envelope SYSTEM "http://example.com/x.dtd">\n<soapenv:Envelope',
    1,
)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body", [BILLION_LAUGHS, EXTERNAL_ENTITY, DTD_ONLY], ids=["billion-laughs", "xxe", "dtd"]
)
def test_xml_bombs_and_external_entities_are_refused(tenant, key, body):
    response = send(key, body)
    assert response.status_code == 500 and not is_ack(response)
    assert "DTD" in fault_text(response)
    assert b"root:" not in response.content
    assert deals(tenant) == {}


# --- isolation and the org ------------------------------------------------------------


@pytest.mark.django_db
def test_a_message_writes_only_the_keys_tenant_with_its_settings(tenant, other_tenant, key):
    with tenant_scope(other_tenant):
        DealFactory(
            tenant=other_tenant,
            sf_id=OPP1,
            name="Rival's deal",
            system_modstamp=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        )
        SyncSettings.objects.create(
            tenant=other_tenant, partner_field="Partner__c", rep_field="Owner.Email"
        )
        rival_rep = RepFactory(
            tenant=other_tenant,
            salesforce_user_id=to_18("005A000000Own01"),
            partner__tenant=other_tenant,
        )
    rival_key = outbound_key(other_tenant)[1]
    assert is_ack(send(key))
    assert deals(tenant)[OPP1].name == "Acme renewal & upsell"
    rival = deals(other_tenant)
    assert set(rival) == {OPP1} and rival[OPP1].name == "Rival's deal"
    # The rival's own message goes to the rival, read with the rival's settings.
    assert is_ack(send(rival_key))
    rival = deals(other_tenant)
    assert rival[OPP1].name == "Acme renewal & upsell" and rival[OPP1].rep is None
    assert rival_rep.pk is not None
    assert deals(tenant)[OPP1].rep is None  # acme has no such rep


@pytest.mark.django_db
def test_a_message_from_another_org_than_the_connected_one_is_refused(tenant, key):
    with tenant_scope(tenant):
        SalesforceConnection.objects.create(
            tenant=tenant,
            instance_url="https://acme.my.salesforce.com",
            client_id="id",
            client_secret_encrypted="x",
            org_id=to_18("00DA000000Org99"),
        )
    response = send(key)
    assert response.status_code == 500 and not is_ack(response)
    assert "organisation" in fault_text(response)
    assert deals(tenant) == {}


# --- the key stays out of the logs --------------------------------------------------


@pytest.mark.django_db
def test_the_key_is_redacted_from_every_log_line(tenant, key):
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        assert is_ack(send(key))  # the access line
        send(key, message(opportunity(Amount="x")))  # a fault: django.request's error line
        write_key = outbound_key(tenant, scopes="write")[1]
        assert send(write_key).status_code == 401  # django.request's warning
    finally:
        handler.setStream(previous)
    output = stream.getvalue()
    secret = key.partition(".")[2]
    assert "/salesforce/outbound/[redacted]" in output
    assert "Unauthorized: /api/v1/salesforce/outbound/[redacted]" in output
    assert secret not in output and key.partition(".")[0] not in output
    assert write_key.partition(".")[2] not in output


@pytest.mark.django_db
def test_throttled_per_key_like_the_api(tenant, key, monkeypatch):
    from django.core.cache import cache

    from pse_crm.api.auth import PerKeyThrottle

    monkeypatch.setitem(PerKeyThrottle.THROTTLE_RATES, "per_key", "2/min")
    cache.clear()
    try:
        assert is_ack(send(key))
        assert is_ack(send(key))
        response = send(key, message(opportunity(to_18("006A000000Opp09"))))
        assert response.status_code == 429 and not is_ack(response)
        assert int(response["Retry-After"]) > 0
        assert to_18("006A000000Opp09") not in deals(tenant)
    finally:
        cache.clear()


@pytest.mark.django_db
def test_stored_behind_row_level_security_as_the_apps_database_role(tenant, other_tenant, key):
    if connection.vendor != "postgresql":
        pytest.skip("row-level security is PostgreSQL's")
    from tests.hardening.conftest import acting_as_app_role

    with tenant_scope(other_tenant):
        DealFactory(tenant=other_tenant, sf_id=OPP1, name="Rival's deal")
    with acting_as_app_role():
        assert is_ack(send(key))
    assert deals(tenant)[OPP1].name == "Acme renewal & upsell"
    assert deals(other_tenant)[OPP1].name == "Rival's deal"
