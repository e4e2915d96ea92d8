"""Bulk API 2.0 CSV on POST /api/v1/deals/sync/ (text/csv), read as a stream."""

from __future__ import annotations

import datetime as dt
import io
import itertools
from decimal import Decimal
from pathlib import Path

import pytest
from django.test import override_settings

from activities.deal_csv import COLUMN_DELIMITERS, MAX_REPORTED_ERRORS, deal_inputs_from_csv
from activities.deal_inputs import DealInputInvalid
from activities.models import Deal
from pse_crm.api.limits import PayloadTooLarge
from pse_crm.api.parsers import StreamingCSVParser, bounded_stream
from pse_crm.sfid import to_18
from pse_crm.tenancy import tenant_scope
from tests.activities.factories import DealFactory
from tests.partners.factories import PartnerFactory
from tests.reps.factories import RepFactory

URL = "/api/v1/deals/sync/"
FIXTURES = Path(__file__).parent / "fixtures"
OPP = [to_18(f"006A000000Opp0{n}") for n in range(1, 4)]
FIELDS = {
    "partner_field": "PartnerAccountId",
    "rep_field": "OwnerId",
    "rep_match": "salesforce_user_id",
}


def opp_id(n: int) -> str:
    return to_18(f"006A00000{n:06d}")


def post_csv(client, body: bytes | str, *, delimiter: str | None = None):
    url = URL if delimiter is None else f"{URL}?columnDelimiter={delimiter}"
    data = body.encode() if isinstance(body, str) else body
    return client.post(url, data=data, content_type="text/csv")


def deals(tenant) -> dict[str, Deal]:
    with tenant_scope(tenant):
        return {d.sf_id: d for d in Deal.objects.all()}


def rows_csv(n: int, *, start: int = 1, delimiter: str = ",", eol: str = "\n") -> str:
    lines = [delimiter.join(["Id", "Name", "SystemModstamp"])]
    for i in range(start, start + n):
        lines.append(delimiter.join([opp_id(i), f"Deal {i}", "2026-03-01T09:00:00.000Z"]))
    return eol.join(lines) + eol


@pytest.fixture
def rep(tenant):
    partner = PartnerFactory(tenant=tenant, external_id=to_18("001A000000Acc01"))
    return RepFactory(partner=partner, salesforce_user_id=to_18("005A000000Own01"))


# --- the documented shape -------------------------------------------------------------


@pytest.mark.django_db
def test_a_bulk_api_query_result_is_stored(api_client, tenant, rep):
    response = post_csv(api_client, (FIXTURES / "csv_bulk_query_result.csv").read_bytes())
    assert response.status_code == 200, response.content
    assert response.json()["created"] == 3
    stored = deals(tenant)
    first, second, third = (stored[i] for i in OPP)
    assert first.name == "Acme renewal, phase 2" and first.is_won and first.is_closed
    assert (first.amount, first.currency, first.close_date) == (
        Decimal("1200000.00"),
        "JPY",
        dt.date(2026, 3, 31),
    )
    assert first.partner == rep.partner and first.rep == rep
    # A quoted cell spanning two lines, and a quote doubled inside a cell.
    assert second.name == "Multi-line\nnotes in the name"
    assert second.amount is None and second.close_date is None and second.rep is None
    assert third.name == 'He said "yes"' and third.currency == "USD"
    assert third.amount == Decimal("5000.50")


@pytest.mark.django_db
def test_15_character_ids_are_stored_in_their_18_character_form(api_client, tenant, rep):
    body = (
        "Id,SystemModstamp,OwnerId,PartnerAccountId\n"
        "006A000000Opp01,2026-03-01T09:00:00.000Z,005A000000Own01,001A000000Acc01\n"
    )
    assert post_csv(api_client, body).status_code == 200
    deal = deals(tenant)[OPP[0]]
    assert (deal.rep, deal.partner) == (rep, rep.partner)


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(COLUMN_DELIMITERS))
@pytest.mark.parametrize("eol", ["\n", "\r\n"], ids=["LF", "CRLF"])
def test_every_column_delimiter_and_line_ending(api_client, tenant, name, eol):
    body = rows_csv(3, delimiter=COLUMN_DELIMITERS[name], eol=eol)
    response = post_csv(api_client, body, delimiter=name)
    assert response.status_code == 200, response.content
    assert {k: d.name for k, d in deals(tenant).items()} == {
        opp_id(i): f"Deal {i}" for i in (1, 2, 3)
    }


@pytest.mark.django_db
def test_a_wrong_delimiter_is_a_clear_400_not_a_guess(api_client, tenant):
    response = post_csv(api_client, rows_csv(2, delimiter=";"))  # sent without ?columnDelimiter
    assert response.status_code == 400
    assert response.json()["errors"][0]["line"] == 1
    assert deals(tenant) == {}


@pytest.mark.django_db
def test_a_byte_order_mark_is_dropped(api_client, tenant):
    response = post_csv(api_client, b"\xef\xbb\xbf" + rows_csv(1).encode())
    assert response.status_code == 200, response.content
    assert set(deals(tenant)) == {opp_id(1)}


# --- several result pages in one body -------------------------------------------------


@pytest.mark.django_db
def test_several_pages_each_with_its_header_even_reordered(api_client, tenant):
    body = (
        '"Id","Name","Amount","SystemModstamp"\n'
        f'"{opp_id(1)}","First","100","2026-03-01T09:00:00.000Z"\n'
        f'"{opp_id(2)}","Second","200","2026-03-01T09:00:00.000Z"\n'
        # The next page: its header again, its columns in another order, one fewer.
        '"SystemModstamp","Id","Name"\n'
        f'"2026-03-01T09:00:00.000Z","{opp_id(3)}","Third"\n'
    )
    response = post_csv(api_client, body)
    assert response.status_code == 200, response.content
    stored = deals(tenant)
    assert [stored[opp_id(n)].name for n in (1, 2, 3)] == ["First", "Second", "Third"]
    assert stored[opp_id(3)].amount is None and stored[opp_id(2)].amount == Decimal("200.00")


@pytest.mark.django_db
def test_a_page_header_is_found_even_where_a_field_name_looks_like_an_id(api_client, tenant):
    # "CurrencyIsoCode" has 15 letters: under the first page's Id column it looks like an id.
    body = (
        '"Id","SystemModstamp"\n'
        f'"{opp_id(1)}","2026-03-01T09:00:00.000Z"\n'
        '"CurrencyIsoCode","Id","SystemModstamp"\n'
        f'"USD","{opp_id(2)}","2026-03-01T09:00:00.000Z"\n'
    )
    response = post_csv(api_client, body)
    assert response.status_code == 200, response.content
    assert deals(tenant)[opp_id(2)].currency == "USD"


@pytest.mark.django_db
def test_errors_name_the_line_in_the_whole_body_and_nothing_is_written(api_client, tenant):
    body = (
        '"Id","SystemModstamp"\n'  # 1
        f'"{opp_id(1)}","2026-03-01T09:00:00.000Z"\n'  # 2
        '"Name","Id","SystemModstamp"\n'  # 3: page 2
        f'"Two\nlines","{opp_id(2)}","2026-03-01T09:00:00.000Z"\n'  # 4-5
        f'"Bad","{opp_id(3)}","yesterday"\n'  # 6
    )
    response = post_csv(api_client, body)
    assert response.status_code == 400
    assert [(e["line"], e["field"]) for e in response.json()["errors"]] == [(6, "SystemModstamp")]
    assert deals(tenant) == {}


@pytest.mark.django_db
def test_a_page_header_without_a_required_column_is_400(api_client, tenant):
    body = rows_csv(1) + '"Id","Name"\n' + f'"{opp_id(5)}","x"\n'
    response = post_csv(api_client, body)
    assert response.status_code == 400
    assert [(e["line"], e["field"]) for e in response.json()["errors"]] == [(3, "SystemModstamp")]
    assert deals(tenant) == {}


# --- partial records ------------------------------------------------------------------


@pytest.mark.django_db
def test_a_missing_column_keeps_the_stored_value_an_empty_cell_empties_it(api_client, tenant):
    with tenant_scope(tenant):
        DealFactory(
            tenant=tenant,
            sf_id=opp_id(1),
            name="Kept",
            amount=Decimal("10.00"),
            stage="Prospecting",
            system_modstamp=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
        )
    body = f'"Id","Amount","SystemModstamp"\n"{opp_id(1)}","","2026-03-02T00:00:00.000Z"\n'
    response = post_csv(api_client, body)
    assert response.status_code == 200, response.content
    deal = deals(tenant)[opp_id(1)]
    assert (deal.name, deal.stage, deal.amount) == ("Kept", "Prospecting", None)


# --- bad input (moved from test_deal_sync.py) ---------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "line", "field"),
    [
        ('"Id","SystemModstamp"\n"006A00000000001","2026-03-01T09:00:00Z","extra"\n', 2, ""),
        ('"Id","SystemModstamp"\n"006A00000000001","not a date"\n', 2, "SystemModstamp"),
        ('"Id","Name"\n"006A00000000001","x"\n', 1, "SystemModstamp"),
        ('"Id","SystemModstamp"\n"006A0000\x00', 2, ""),
        ('"Id","Id","SystemModstamp"\n', 1, "Id"),
        ("\n\n", 1, ""),
    ],
)
def test_bad_csv_is_400_with_its_line(api_client, tenant, body, line, field):
    response = post_csv(api_client, body)
    assert response.status_code == 400
    first = response.json()["errors"][0]
    assert (first["line"], first["field"]) == (line, field)
    assert deals(tenant) == {}


@pytest.mark.django_db
def test_csv_that_is_not_utf8_is_400_naming_the_line(api_client, tenant):
    body = rows_csv(2).encode() + f'"{opp_id(9)}","caf\xe9","2026-03-01T09:00:00Z"\n'.encode(
        "latin-1"
    )
    response = post_csv(api_client, body)
    assert response.status_code == 400
    assert [e["line"] for e in response.json()["errors"]] == [4]
    assert deals(tenant) == {}
    utf16 = '"Id","SystemModstamp","Name"\n"006A00000000001","2026-03-01T09:00:00Z","商談"\n'
    response = post_csv(api_client, utf16.encode("utf-16"))
    assert response.status_code == 400
    assert response.json()["errors"][0]["line"] == 1


def test_reporting_stops_after_enough_errors():
    body = rows_csv(MAX_REPORTED_ERRORS + 50).replace("2026-03-01T09:00:00.000Z", "later")
    with pytest.raises(DealInputInvalid) as caught:
        deal_inputs_from_csv(body.encode(), **FIELDS)
    assert len(caught.value.errors) == MAX_REPORTED_ERRORS
    assert caught.value.errors[-1].row == MAX_REPORTED_ERRORS + 1


# --- limits and streaming ---------------------------------------------------------------


@pytest.mark.django_db
@override_settings(API_MAX_DEAL_CSV_ROWS=5)
def test_more_rows_than_the_csv_limit_is_413_and_nothing_is_written(api_client, tenant):
    assert post_csv(api_client, rows_csv(5)).status_code == 200
    response = post_csv(api_client, rows_csv(6, start=10))
    assert response.status_code == 413
    assert "5" in response.json()["detail"]
    assert len(deals(tenant)) == 5


@pytest.mark.django_db
@override_settings(API_MAX_BATCH_RECORDS=3)
def test_the_batch_limit_of_other_endpoints_does_not_apply_to_csv(api_client, tenant):
    response = post_csv(api_client, rows_csv(4))
    assert response.status_code == 200, response.content
    assert len(deals(tenant)) == 4
    json_body = [
        {"sf_id": opp_id(n), "system_modstamp": "2026-03-01T09:00:00Z"} for n in range(20, 24)
    ]
    assert api_client.post(URL, data=json_body, format="json").status_code == 413


@pytest.mark.django_db
@override_settings(API_MAX_BODY_BYTES=200)
def test_the_body_limit_still_holds(api_client, tenant):
    response = post_csv(api_client, rows_csv(10))
    assert response.status_code == 413
    assert deals(tenant) == {}


class EndlessBody(io.RawIOBase):
    """A body that never ends: only a reader that stops on its own can answer."""

    def __init__(self):
        rows = (f"{opp_id(i)},x,2026-03-01T09:00:00Z\n".encode() for i in itertools.count(1))
        self._chunks = itertools.chain([b"Id,Name,SystemModstamp\n"], rows)
        self.read_bytes = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        chunk = next(self._chunks)[: len(buffer)]
        buffer[: len(chunk)] = chunk
        self.read_bytes += len(chunk)
        return len(chunk)


@override_settings(API_MAX_DEAL_CSV_ROWS=1000)
def test_the_body_is_read_as_a_stream_and_reading_stops_at_the_row_limit():
    body = EndlessBody()
    with pytest.raises(PayloadTooLarge):
        deal_inputs_from_csv(io.BufferedReader(body), **FIELDS)
    # It stopped reading within a buffer of the 1,001st row.
    assert body.read_bytes < 1001 * 60 + 64 * 1024


def test_the_parser_hands_a_bounded_stream_that_refuses_past_the_body_limit():
    parsed = StreamingCSVParser().parse(io.BytesIO(rows_csv(3).encode()))
    assert not isinstance(parsed, bytes)
    assert [d.sf_id for d in deal_inputs_from_csv(parsed, **FIELDS)] == [
        opp_id(1),
        opp_id(2),
        opp_id(3),
    ]
    with pytest.raises(PayloadTooLarge):
        deal_inputs_from_csv(bounded_stream(io.BytesIO(rows_csv(50).encode()), limit=500), **FIELDS)


# --- isolation --------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_csv_writes_only_the_keys_tenant(api_client, tenant, other_tenant):
    with tenant_scope(other_tenant):
        DealFactory(
            tenant=other_tenant,
            sf_id=opp_id(1),
            name="Rival's",
            system_modstamp=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        )
    response = post_csv(api_client, rows_csv(2))
    assert response.status_code == 200, response.content
    assert response.json()["created"] == 2
    assert deals(tenant)[opp_id(1)].name == "Deal 1"
    assert {k: d.name for k, d in deals(other_tenant).items()} == {opp_id(1): "Rival's"}
