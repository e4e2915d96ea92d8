"""Hostile input to the ingestion paths (defects found by an outside probe).

Every input here must be a clear 4xx naming the record and the field, write nothing, and
leave the server answering: lone surrogates, NUL bytes and control characters in text,
dates PostgreSQL or Python cannot hold, numbers that overflow into an id, values too long
for their column, and a notification that fails after the views were committed.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from activities import deal_inputs
from activities.models import Deal, MaterialView
from activities.services import material_views
from deal_signals.models import SignalKind
from deal_signals.services.signals import signal_rules_ensure
from pse_crm.roles import Role
from pse_crm.sfid import to_18
from pse_crm.tenancy import tenant_scope
from reps.models import Rep
from tests.activities.factories import MaterialFactory, MaterialViewFactory
from tests.factories import MembershipFactory
from tests.partners.factories import PartnerDomainFactory, PartnerFactory
from tests.reps.factories import RepFactory

pytestmark = pytest.mark.django_db

VIEWS = "/api/v1/material-views/"
SYNC = "/api/v1/deals/sync/"
FAR_FUTURE = "9999-12-31T23:59:59-14:00"  # year 10000 in UTC
FAR_PAST = "0001-01-01T00:00:00+01:00"  # year 0 in UTC
NUMBER = "\x02num:"  # a marker: the rest of the string is written as a bare JSON number


@pytest.fixture
def world(tenant, other_tenant):
    partner = PartnerFactory(tenant=tenant, name="Sample KK")
    PartnerDomainFactory(partner=partner, domain="sample.co.jp")
    rep = RepFactory(partner=partner, name="Taro", email="taro@sample.co.jp", external_id="u-1")
    material = MaterialFactory(tenant=tenant, external_id="deck-1", url="https://cdn.example/d1")
    rival = PartnerFactory(tenant=other_tenant)
    rival_rep = RepFactory(partner=rival, email="taro@sample.co.jp")
    MaterialViewFactory(
        rep=rival_rep, material=MaterialFactory(tenant=other_tenant), event_id="rival-1"
    )
    return {"partner": partner, "rep": rep, "material": material}


def counts(*tenants) -> list[tuple[int, int, int]]:
    out = []
    for t in tenants:
        with tenant_scope(t):
            out.append((MaterialView.objects.count(), Rep.objects.count(), Deal.objects.count()))
    return out


def raw_json(value) -> str:
    """JSON text: lone surrogates and NUL as ``\\ud800`` / ``\\u0000`` escapes, and strings
    starting with ``NUMBER`` as bare numbers (``1e309``), as a hostile client writes them."""
    text = json.dumps(value)
    marker = json.dumps(NUMBER)[:-1]  # '"\u0002num:'
    while marker in text:
        start = text.index(marker)
        end = text.index('"', start + len(marker))
        text = text[:start] + text[start + len(marker) : end] + text[end + 1 :]
    return text


def num(literal: str) -> str:
    return NUMBER + literal


def refused(response, *, where: int, field: str, key: str = "index") -> dict:
    """A 400 listing exactly one bad record, at ``where``, naming ``field``."""
    assert response.status_code == 400, response.content
    body = response.json()  # renderable: no surrogate echoed back
    assert [(e.get(key), e["field"]) for e in body["errors"]] == [(where, field)], body
    assert all(e["message"] for e in body["errors"])
    return body


def still_answering(client) -> None:
    assert client.get(VIEWS).status_code == 200
    assert client.get(SYNC).status_code == 200


# --- material views: JSON ---------------------------------------------------------------


def event(n: int, **change) -> dict:
    base = {
        "event_id": f"hostile-{n}",
        "rep_email": "taro@sample.co.jp",
        "material_external_id": "deck-1",
        "viewed_at": "2026-03-01T10:00:00+09:00",
        "duration_seconds": 30,
    }
    base.update(change)
    return {k: v for k, v in base.items() if v is not None}


def post_views(client, *changes: dict):
    body = raw_json([event(i, **c) for i, c in enumerate(changes)])
    return client.post(VIEWS, data=body, content_type="application/json")


JSON_VIEW_TEXT = [
    # lone surrogates and NUL, wherever they are: 400, never a 500 on encoding
    ({"event_id": "e\ud800"}, "event_id"),
    ({"event_id": "e\x00"}, "event_id"),
    ({"rep_email": "taro\ud800@sample.co.jp"}, "rep_email"),
    ({"rep_email": "taro\x00@sample.co.jp"}, "rep_email"),
    ({"rep_external_id": "u-1\ud800"}, "rep_external_id"),
    ({"rep_external_id": "u-1\x00"}, "rep_external_id"),
    ({"material_external_id": "deck\ud800"}, "material_external_id"),
    ({"material_external_id": "deck\x00"}, "material_external_id"),
    ({"material_external_id": None, "material_url": "https://cdn.example/\ud800"}, "material_url"),
    ({"viewed_at": "2026-03-01T10:00:00\ud800"}, "viewed_at"),
    ({"viewed_at": "2026-03-01T10:00:00\x00"}, "viewed_at"),
    ({"duration_seconds": "3\ud800"}, "duration_seconds"),
    ({"source": "\ud800"}, "source"),
    ({"source": "api\x00"}, "source"),
    ({"rep_name": "Taro\ud800"}, "rep_name"),
    # control characters in an id: refused (ids are compared, never cleaned); an event id
    # keeps its tabs and line breaks (stored exactly: tests/activities/test_import_views.py)
    ({"event_id": "e\x01"}, "event_id"),
    ({"event_id": "e\x1b[31m"}, "event_id"),
    ({"rep_external_id": "u-1\x1b"}, "rep_external_id"),
    (
        {"material_external_id": "deck-1\x7f", "material_url": "https://cdn.example/d1"},
        "material_external_id",
    ),
]


@pytest.mark.parametrize(("change", "field"), JSON_VIEW_TEXT)
def test_json_views_with_hostile_text_are_400_naming_the_field(
    api_client, tenant, other_tenant, world, change, field
):
    before = counts(tenant, other_tenant)
    refused(post_views(api_client, {}, change, {}), where=1, field=field)
    assert counts(tenant, other_tenant) == before
    still_answering(api_client)


def test_a_surrogate_in_a_field_name_is_400_and_renders(api_client, tenant, world):
    body = raw_json([event(0), {**event(1), "x\ud800": "1"}])
    response = api_client.post(VIEWS, data=body, content_type="application/json")
    assert response.status_code == 400, response.content
    [error] = response.json()["errors"]
    assert error["index"] == 1 and error["field"].startswith("x")
    assert counts(tenant) == [(0, 1, 0)]


JSON_VIEW_IDS = [
    ("event_id", num("1e309")),
    ("event_id", num("-1e309")),
    ("event_id", num("1.5")),
    ("event_id", num("1e20")),
    ("event_id", num(str(2**63))),
    ("event_id", num(str(-(2**63)))),
    ("rep_external_id", num("1e309")),
    ("material_external_id", num("1e309")),
]


@pytest.mark.parametrize(("field", "value"), JSON_VIEW_IDS)
def test_json_ids_must_be_strings_or_in_range_integers(
    api_client, tenant, other_tenant, world, field, value
):
    change = {field: value}
    if field == "material_external_id":
        change["material_url"] = "https://cdn.example/d1"
    before = counts(tenant, other_tenant)
    good = {"event_id": num(str(2**63 - 1))}
    refused(post_views(api_client, good, change), where=1, field=field)
    assert counts(tenant, other_tenant) == before
    still_answering(api_client)


def test_two_overflowing_event_ids_are_both_refused_never_stored_as_inf(api_client, tenant, world):
    response = post_views(api_client, {"event_id": num("1e309")}, {"event_id": num("1e400")})
    assert response.status_code == 400
    assert [(e["index"], e["field"]) for e in response.json()["errors"]] == [
        (0, "event_id"),
        (1, "event_id"),
    ]
    with tenant_scope(tenant):
        assert not MaterialView.objects.filter(event_id="inf").exists()


@pytest.mark.parametrize(
    "viewed_at",
    [FAR_FUTURE, FAR_PAST, "0001-01-01T00:00:00", "9999-12-31T23:59:59.999999-00:01"],
)
def test_json_views_with_an_unstorable_time_are_400(
    api_client, tenant, other_tenant, world, viewed_at
):
    before = counts(tenant, other_tenant)
    refused(post_views(api_client, {}, {"viewed_at": viewed_at}), where=1, field="viewed_at")
    assert counts(tenant, other_tenant) == before
    still_answering(api_client)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"rep_email": "a" * 64 + "@" + ("b" * 63 + ".") * 3 + "sample.co.jp"}, "rep_email"),
        ({"rep_email": "new@sample.co.jp", "rep_external_id": "u" * 101}, "rep_external_id"),
    ],
)
def test_a_value_too_long_for_its_column_is_a_400_naming_it(
    api_client, tenant, other_tenant, world, change, field
):
    before = counts(tenant, other_tenant)
    refused(post_views(api_client, {}, change), where=1, field=field)
    assert counts(tenant, other_tenant) == before
    still_answering(api_client)


def test_a_data_error_from_the_database_is_a_400_not_a_500(
    api_client, tenant, other_tenant, world, monkeypatch
):
    # A column the validation missed (simulated): PostgreSQL refuses the value.
    monkeypatch.setattr(material_views, "_EVENT_ID_MAX", 1_000)
    before = counts(tenant, other_tenant)
    response = post_views(api_client, {}, {"event_id": "e" * 150})
    assert response.status_code == 400, response.content
    assert response.json()["detail"]
    assert counts(tenant, other_tenant) == before
    still_answering(api_client)


# --- material views: CSV (the API and import_views) -------------------------------------

CSV_HEADER = "event_id,rep_email,material_external_id,material_url,viewed_at,duration_seconds\n"


def csv_line(n: int, **change) -> str:
    values = {
        "event_id": f"csv-{n}",
        "rep_email": "taro@sample.co.jp",
        "material_external_id": "deck-1",
        "material_url": "",
        "viewed_at": "2026-03-01T10:00:00",
        "duration_seconds": "30",
    }
    values.update(change)
    return ",".join(values[c] for c in CSV_HEADER.strip().split(",")) + "\n"


CSV_VIEW_CASES = [
    ({"event_id": "csv\x00"}, "event_id"),
    ({"rep_email": "taro\x00@sample.co.jp"}, "rep_email"),
    ({"material_external_id": "deck\x00"}, "material_external_id"),
    ({"viewed_at": "2026-03-01T10:00:00\x00"}, "viewed_at"),
    ({"event_id": "csv\x01"}, "event_id"),
    (
        {"material_external_id": "deck-1\x1b", "material_url": "https://cdn.example/d1"},
        "material_external_id",
    ),
    ({"viewed_at": FAR_FUTURE}, "viewed_at"),
    ({"viewed_at": FAR_PAST}, "viewed_at"),
]


def csv_body(change: dict) -> bytes:
    return (CSV_HEADER + csv_line(1) + csv_line(2, **change) + csv_line(3)).encode()


@pytest.mark.parametrize(("change", "field"), CSV_VIEW_CASES)
def test_csv_views_with_hostile_values_are_400_with_the_line(
    api_client, tenant, other_tenant, world, change, field
):
    before = counts(tenant, other_tenant)
    response = api_client.post(VIEWS, data=csv_body(change), content_type="text/csv")
    refused(response, where=3, field=field, key="line")
    assert counts(tenant, other_tenant) == before
    still_answering(api_client)


@pytest.mark.parametrize(("change", "field"), CSV_VIEW_CASES)
def test_import_views_refuses_hostile_values_with_the_line(
    tenant, other_tenant, world, tmp_path, capsys, change, field
):
    path = tmp_path / "views.csv"
    path.write_bytes(csv_body(change))
    before = counts(tenant, other_tenant)
    with pytest.raises(CommandError, match="1 invalid row"):
        call_command("import_views", str(path), tenant="acme")
    assert f"line 3: {field}: " in capsys.readouterr().err
    assert counts(tenant, other_tenant) == before


def test_import_views_cleans_a_hostile_source_label(tenant, world, tmp_path):
    path = tmp_path / "views.csv"
    path.write_bytes((CSV_HEADER + csv_line(1)).encode())
    call_command("import_views", str(path), tenant="acme", source="plat\x00form\ud800\n")
    with tenant_scope(tenant):
        assert list(MaterialView.objects.values_list("source", flat=True)) == ["platform\ufffd"]


# --- deals: the Salesforce query page, the plain list, CSV --------------------------------


def opp(n: int) -> str:
    return to_18(f"006A00000{n:06d}")


def sf_record(n: int, **change) -> dict:
    record = {
        "attributes": {"type": "Opportunity"},
        "Id": opp(n),
        "Name": f"Opportunity {n}",
        "StageName": "Prospecting",
        "CloseDate": "2026-03-31",
        "SystemModstamp": "2026-03-01T09:00:00.000+0000",
        "CreatedDate": "2026-02-01T00:00:00.000+0000",
        "PartnerAccountId": "001A000001AbCdE",
        "OwnerId": "005A000000XyZab",
    }
    record.update(change)
    return record


def post_sync(client, body):
    return client.post(SYNC, data=raw_json(body), content_type="application/json")


SF_CASES = [
    ({"Name": "Acme\ud800"}, "Name"),
    ({"Name": "Acme\x00"}, "Name"),
    ({"StageName": "Won\ud800"}, "StageName"),
    ({"StageName": "Won\x00"}, "StageName"),
    ({"PartnerAccountId": "ACME\x00"}, "PartnerAccountId"),
    ({"PartnerAccountId": "ACME\ud800"}, "PartnerAccountId"),
    ({"PartnerAccountId": "ACME\x01"}, "PartnerAccountId"),
    ({"SystemModstamp": FAR_FUTURE}, "SystemModstamp"),
    ({"SystemModstamp": FAR_PAST}, "SystemModstamp"),
    ({"CreatedDate": FAR_FUTURE}, "CreatedDate"),
    ({"LastModifiedDate": FAR_PAST}, "LastModifiedDate"),
    ({"CloseDate": "10000-01-01"}, "CloseDate"),
    ({"CloseDate": "0000-12-31"}, "CloseDate"),
    ({"Id": num("1e309")}, "Id"),
    ({"PartnerAccountId": num("1e309")}, "PartnerAccountId"),
    ({"PartnerAccountId": num(str(2**63))}, "PartnerAccountId"),
    ({"PartnerAccountId": num("12.5")}, "PartnerAccountId"),
    ({"PartnerAccountId": True}, "PartnerAccountId"),
]


@pytest.mark.parametrize(("change", "field"), SF_CASES)
def test_salesforce_page_with_hostile_values_is_400_naming_the_field(
    api_client, tenant, other_tenant, world, change, field
):
    before = counts(tenant, other_tenant)
    body = {"totalSize": 3, "done": True, "records": [sf_record(1), sf_record(2, **change)]}
    refused(post_sync(api_client, body), where=1, field=field)
    assert counts(tenant, other_tenant) == before
    still_answering(api_client)


def test_an_id_sent_as_a_number_is_refused_as_an_id_not_as_missing(api_client, tenant, world):
    body = {"records": [sf_record(1, Id=num("6"))]}
    [error] = post_sync(api_client, body).json()["errors"]
    assert error["field"] == "Id" and "required" not in error["message"].lower()


def api_record(n: int, **change) -> dict:
    record = {
        "sf_id": opp(n),
        "system_modstamp": "2026-03-01T09:00:00Z",
        "name": f"Deal {n}",
        "stage": "Prospecting",
    }
    record.update(change)
    return record


API_CASES = [
    ({"name": "Acme\ud800"}, "name"),
    ({"stage": "x\x00"}, "stage"),
    ({"system_modstamp": FAR_FUTURE}, "system_modstamp"),
    ({"sf_created_at": FAR_PAST}, "sf_created_at"),
    ({"partner_key": num("1e309")}, "partner_key"),
    ({"partner_key": num(str(-(2**63)))}, "partner_key"),
    ({"rep_key": "005A000000XyZab\x00"}, "rep_key"),
    ({"x\ud800": "1"}, "x\\ud800"),
]


@pytest.mark.parametrize(("change", "field"), API_CASES)
def test_plain_list_with_hostile_values_is_400_naming_the_field(
    api_client, tenant, other_tenant, world, change, field
):
    before = counts(tenant, other_tenant)
    refused(post_sync(api_client, [api_record(1), api_record(2, **change)]), where=1, field=field)
    assert counts(tenant, other_tenant) == before
    still_answering(api_client)


def test_in_range_integer_partner_keys_are_kept_as_text(api_client, tenant, world):
    partner = PartnerFactory(tenant=tenant, external_id="4711")
    body = [api_record(1, partner_key=num("4711")), api_record(2, partner_key=num(str(2**63 - 1)))]
    response = post_sync(api_client, body)
    assert response.status_code == 200, response.content
    with tenant_scope(tenant):
        stored = dict(Deal.objects.values_list("raw_partner_key", "partner"))
    assert stored == {"4711": partner.pk, str(2**63 - 1): None}


def test_control_characters_in_deal_names_are_stripped(api_client, tenant, world):
    # Tabs and line breaks are text a CSV cell may hold (tests/hardening/test_properties.py)
    body = {"records": [sf_record(1, Name="Acme\x01 renewal\r\n(2026)\x1b", StageName="\tWon\x7f")]}
    response = post_sync(api_client, body)
    assert response.status_code == 200, response.content
    with tenant_scope(tenant):
        deal = Deal.objects.get()
    assert (deal.name, deal.stage) == ("Acme renewal\r\n(2026)", "Won")


DEAL_CSV_HEADER = '"Id","Name","StageName","SystemModstamp","PartnerAccountId"\n'


def deal_csv_line(n: int, **change) -> str:
    values = {
        "Id": opp(n),
        "Name": f"Deal {n}",
        "StageName": "Prospecting",
        "SystemModstamp": "2026-03-01T09:00:00.000Z",
        "PartnerAccountId": "001A000001AbCdE",
    }
    values.update(change)
    return ",".join(f'"{v}"' for v in values.values()) + "\n"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"Name": "Acme\x00"}, "Name"),
        ({"StageName": "Won\x00"}, "StageName"),
        ({"PartnerAccountId": "ACME\x00"}, "PartnerAccountId"),
        ({"SystemModstamp": FAR_FUTURE}, "SystemModstamp"),
        ({"SystemModstamp": FAR_PAST}, "SystemModstamp"),
    ],
)
def test_deal_csv_with_hostile_values_is_400_with_the_line(
    api_client, tenant, other_tenant, world, change, field
):
    body = DEAL_CSV_HEADER + deal_csv_line(1) + deal_csv_line(2, **change) + deal_csv_line(3)
    before = counts(tenant, other_tenant)
    response = api_client.post(SYNC, data=body.encode(), content_type="text/csv")
    refused(response, where=3, field=field, key="line")
    assert counts(tenant, other_tenant) == before
    still_answering(api_client)


def test_a_deal_value_the_database_refuses_is_a_400_not_a_500(
    api_client, tenant, other_tenant, world, monkeypatch
):
    # A column the validation missed (simulated): the COPY into PostgreSQL refuses it.
    monkeypatch.setitem(deal_inputs._SF_FIELDS, "Name", ("name", lambda v, t: v))
    before = counts(tenant, other_tenant)
    response = post_sync(api_client, {"records": [sf_record(1, Name="N" * 300)]})
    assert response.status_code == 400, response.content
    assert response.json()["detail"]
    assert counts(tenant, other_tenant) == before
    still_answering(api_client)


# --- a notification failing after the commit never fails the ingestion ------------------


@pytest.fixture
def bursting(tenant):
    """Burst rule only; a partner owned by a member with immediate email; a rep whose name
    tries header injection; three views an hour apart make a burst."""
    with tenant_scope(tenant):
        for rule in signal_rules_ensure(tenant=tenant).values():
            rule.is_enabled = rule.kind == SignalKind.BURST
            rule.save()
    owner = MembershipFactory(tenant=tenant, role=Role.STAFF).user
    partner = PartnerFactory(tenant=tenant, owner=owner, name="Sample\r\nKK")
    PartnerDomainFactory(partner=partner, domain="sample.co.jp")
    rep = RepFactory(partner=partner, name="Taro\nBcc: x@evil", email="taro@sample.co.jp")
    MaterialFactory(tenant=tenant, external_id="deck-1")
    now = timezone.now()
    views = [event(i, viewed_at=(now - dt.timedelta(hours=3 - i)).isoformat()) for i in range(3)]
    return {"owner": owner, "rep": rep, "views": views}


def _views_of(tenant, rep) -> int:
    with tenant_scope(tenant):
        return MaterialView.objects.filter(rep=rep).count()


@pytest.mark.django_db(transaction=True)
def test_a_rep_name_with_a_line_break_is_emailed_with_a_clean_subject(api_client, tenant, bursting):
    response = api_client.post(VIEWS, data=bursting["views"], format="json")
    assert response.status_code == 200, response.content
    assert response.json()["created"] == 3
    assert _views_of(tenant, bursting["rep"]) == 3
    [email] = mail.outbox
    assert email.to == [bursting["owner"].email]
    assert "\n" not in email.subject and "\r" not in email.subject
    assert "Taro Bcc: x@evil" in email.subject and "Sample KK" in email.subject
    message = email.message()
    assert message["Bcc"] is None and email.bcc == []


class _BrokenMailBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise RuntimeError("the mail relay crashed")


@pytest.mark.django_db(transaction=True)
@override_settings(EMAIL_BACKEND=f"{__name__}._BrokenMailBackend")
def test_a_failing_email_never_fails_the_ingestion_that_caused_it(
    api_client, tenant, bursting, caplog
):
    response = api_client.post(VIEWS, data=bursting["views"], format="json")
    assert response.status_code == 200, response.content
    assert _views_of(tenant, bursting["rep"]) == 3
    assert "the mail relay crashed" in caplog.text  # logged, not swallowed
    still_answering(api_client)
