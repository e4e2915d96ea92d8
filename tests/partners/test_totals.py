"""Partner totals: the rules of the one write, the CSV import (UTF-8, Shift_JIS, every bad
line, all or nothing), the command, and ``/api/v1/partner-totals/`` (upsert, filters,
roles and scopes, tenants)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from activities.models import CurrencyRate, DatedCurrencyRate
from partners.models import PartnerTotal
from partners.periods import PeriodError, period_granularity, periods_between
from pse_crm.models import TenantAPIKey
from pse_crm.tenancy import tenant_scope
from tests.partners.factories import PartnerFactory
from web.services.partner_totals import (
    PartnerTotalsInvalid,
    partner_totals_import_csv,
    partner_totals_upsert,
)

pytestmark = pytest.mark.django_db

URL = "/api/v1/partner-totals/"
Q3 = (dt.date(2026, 7, 1), dt.date(2026, 9, 30))


def _record(partner, **kw):
    return {
        "partner": partner,
        "period_start": Q3[0],
        "period_end": Q3[1],
        "total_amount": Decimal("10000000"),
        **kw,
    }


def _stored(tenant):
    with tenant_scope(tenant):
        return list(
            PartnerTotal.objects.order_by("partner__name", "period_start").values(
                "partner__name", "granularity", "period_start", "total_amount", "currency"
            )
        )


@pytest.fixture
def partners(tenant):
    with tenant_scope(tenant):
        return [
            PartnerFactory(tenant=tenant, name="Alpha", external_id="001000000000001AAA"),
            PartnerFactory(tenant=tenant, name="Beta"),
        ]


@pytest.fixture
def rival_partner(other_tenant):
    with tenant_scope(other_tenant):
        partner = PartnerFactory(tenant=other_tenant, name="Rival partner")
        PartnerTotal.objects.create(
            tenant=other_tenant,
            partner=partner,
            granularity="quarter",
            period_start=Q3[0],
            period_end=Q3[1],
            total_amount=Decimal("999"),
            currency="JPY",
        )
        return partner


# --- periods -------------------------------------------------------------------------


def test_periods_are_whole_calendar_months_or_quarters():
    assert period_granularity(dt.date(2026, 2, 1), dt.date(2026, 2, 28)) == "month"
    assert period_granularity(dt.date(2024, 2, 1), dt.date(2024, 2, 29)) == "month"
    assert period_granularity(dt.date(2026, 10, 1), dt.date(2026, 12, 31)) == "quarter"
    for start, end in [
        (dt.date(2026, 2, 1), dt.date(2026, 4, 30)),  # three months, not a calendar quarter
        (dt.date(2026, 7, 2), dt.date(2026, 9, 30)),
        (dt.date(2026, 7, 1), dt.date(2026, 9, 29)),
        (dt.date(2026, 1, 1), dt.date(2026, 12, 31)),
    ]:
        with pytest.raises(PeriodError, match="whole calendar"):
            period_granularity(start, end)
    with pytest.raises(PeriodError, match="ends before it starts"):
        period_granularity(dt.date(2026, 9, 30), dt.date(2026, 7, 1))
    assert [
        s for s, _e in periods_between(dt.date(2025, 12, 5), dt.date(2026, 4, 1), "quarter")
    ] == [
        dt.date(2025, 10, 1),
        dt.date(2026, 1, 1),
        dt.date(2026, 4, 1),
    ]


# --- the service ---------------------------------------------------------------------


def test_upsert_creates_then_replaces_by_partner_and_period(in_tenant, partners):
    alpha, beta = partners
    result = partner_totals_upsert(
        tenant=in_tenant,
        records=[
            _record(alpha, competing_product_names=["X", "Y"]),
            _record(beta, total_amount=None, deal_count=12),
            _record(
                alpha,
                period_start=dt.date(2026, 8, 1),
                period_end=dt.date(2026, 8, 31),
                total_amount=Decimal(3_000_000),
            ),
        ],
    )
    assert (result.created, result.updated, result.unchanged) == (3, 0, 0)
    row = PartnerTotal.objects.get(partner=alpha, granularity="quarter")
    # The currency defaults to the corporate one; the count follows the names.
    assert (row.currency, row.competing_products, row.source) == ("JPY", 2, "reported")
    assert PartnerTotal.objects.get(partner=beta).currency == ""

    again = partner_totals_upsert(
        tenant=in_tenant,
        records=[_record(alpha, total_amount=Decimal(12_000_000), source="estimated")],
    )
    assert (again.created, again.updated) == (0, 1)
    row.refresh_from_db()
    # Replaced whole: the names the new record does not give are gone.
    assert (row.total_amount, row.source, row.competing_product_names) == (
        Decimal(12_000_000),
        "estimated",
        [],
    )
    same = partner_totals_upsert(
        tenant=in_tenant,
        records=[_record(alpha, total_amount=Decimal(12_000_000), source="estimated")],
    )
    assert same.unchanged == 1
    assert PartnerTotal.objects.count() == 3


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"period_end": dt.date(2026, 6, 30)}, "period_end", "ends before it starts"),
        ({"period_end": dt.date(2026, 9, 15)}, "period_end", "whole calendar month"),
        ({"total_amount": Decimal(-1)}, "total_amount", "cannot be negative"),
        ({"total_amount": None}, "total_amount", "total_amount, deal_count or both"),
        ({"currency": "XYZ"}, "currency", "XYZ has no conversion rate on 2026-09-30"),
        ({"currency": "yen!"}, "currency", "three-letter ISO"),
        ({"deal_count": -3}, "deal_count", "0 or more"),
        (
            {"competing_products": 1, "competing_product_names": ["A", "B"]},
            "competing_products",
            "2 names",
        ),
        ({"source": "guessed"}, "source", "reported or estimated"),
    ],
)
def test_bad_records_are_refused_with_the_reason_and_nothing_is_written(
    in_tenant, partners, change, field, message
):
    alpha, beta = partners
    with pytest.raises(PartnerTotalsInvalid) as info:
        partner_totals_upsert(tenant=in_tenant, records=[_record(beta), _record(alpha, **change)])
    [error] = info.value.errors
    assert (error.row, error.field) == (1, field)
    assert message in error.message
    assert PartnerTotal.objects.count() == 0


def test_the_same_partner_and_period_twice_in_a_batch_overlaps(in_tenant, partners):
    alpha, _beta = partners
    with pytest.raises(PartnerTotalsInvalid) as info:
        partner_totals_upsert(tenant=in_tenant, records=[_record(alpha), _record(alpha)])
    [error] = info.value.errors
    assert error.row == 1 and "may not overlap" in error.message
    assert PartnerTotal.objects.count() == 0


def test_a_month_and_its_quarter_are_different_granularities(in_tenant, partners):
    alpha, _beta = partners
    partner_totals_upsert(
        tenant=in_tenant,
        records=[
            _record(alpha),
            _record(alpha, period_start=dt.date(2026, 7, 1), period_end=dt.date(2026, 7, 31)),
        ],
    )
    assert sorted(PartnerTotal.objects.values_list("granularity", flat=True)) == [
        "month",
        "quarter",
    ]


def test_a_foreign_currency_needs_a_rate_on_the_period_end(in_tenant, partners):
    alpha, beta = partners
    DatedCurrencyRate.objects.create(
        tenant=in_tenant,
        iso_code="EUR",
        conversion_rate=Decimal("0.0062"),
        start_date=dt.date(2026, 1, 1),
        next_start_date=dt.date(2026, 7, 1),
    )
    # The dated EUR rate ends before Q3's last day and EUR has no current rate.
    with pytest.raises(PartnerTotalsInvalid, match="EUR has no conversion rate"):
        partner_totals_upsert(tenant=in_tenant, records=[_record(alpha, currency="EUR")])
    CurrencyRate.objects.create(tenant=in_tenant, iso_code="USD", conversion_rate=Decimal("0.0067"))
    partner_totals_upsert(
        tenant=in_tenant,
        records=[
            _record(alpha, currency="usd"),
            _record(
                beta,
                currency="EUR",
                period_start=dt.date(2026, 4, 1),
                period_end=dt.date(2026, 6, 30),
            ),
        ],
    )
    assert sorted(PartnerTotal.objects.values_list("currency", flat=True)) == ["EUR", "USD"]


def test_another_tenants_partner_is_refused(in_tenant, partners, rival_partner):
    with pytest.raises(PartnerTotalsInvalid, match="No such partner"):
        partner_totals_upsert(tenant=in_tenant, records=[_record(rival_partner)])
    assert PartnerTotal.objects.count() == 0


# --- CSV -----------------------------------------------------------------------------

HEADER = (
    "partner,period_start,period_end,total_amount,currency,deal_count,competing_products,"
    "competing_product_names,source,note\n"
)


def test_csv_utf8_with_bom_keys_by_name_salesforce_id_and_id(in_tenant, partners):
    alpha, beta = partners
    text = (
        HEADER
        + '001000000000001,2026-07-01,2026-09-30,"12,000,000",JPY,40,4,A;B;C;D,reported,\n'
        + f"{beta.pk},2026/04/01,2026/06/30,,,7,,,estimated,見積もり\n"
        + "\n"
        + "Beta,2026-07-01,2026-07-31,500000,,,,,,月次\n"
    )
    result = partner_totals_import_csv(tenant=in_tenant, data=b"\xef\xbb\xbf" + text.encode())
    assert result.created == 3
    q3 = PartnerTotal.objects.get(partner=alpha)
    assert (q3.total_amount, q3.deal_count, q3.competing_product_names) == (
        Decimal(12_000_000),
        40,
        ["A", "B", "C", "D"],
    )
    assert PartnerTotal.objects.get(partner=beta, granularity="quarter").note == "見積もり"


def test_csv_shift_jis(in_tenant, partners):
    text = (
        HEADER + "Alpha,2026-07-01,2026-09-30,3000000,JPY,,3,競合Ａ；競合Ｂ,reported,四半期の報告\n"
    )
    result = partner_totals_import_csv(tenant=in_tenant, data=text.encode("cp932"))
    assert result.created == 1
    row = PartnerTotal.objects.get()
    assert row.competing_product_names == ["競合Ａ", "競合Ｂ"]
    assert row.note == "四半期の報告"


def test_csv_reports_every_bad_line_and_writes_nothing(in_tenant, partners):
    alpha, _beta = partners
    partner_totals_upsert(tenant=in_tenant, records=[_record(alpha)])
    text = (
        HEADER
        + "Alpha,2026-07-01,2026-09-30,99,JPY,,,,,\n"  # 2: fine (would replace)
        + "Nobody,2026-07-01,2026-09-30,1,JPY,,,,,\n"  # 3
        + "Beta,2026-07-01,2026-09-15,1,JPY,,,,,\n"  # 4
        + "Beta,2026-10-01,2026-12-31,-5,JPY,,,,,\n"  # 5
        + "Alpha,2026-04-01,2026-06-30,5,ABC,,,,,\n"  # 6
        + "Beta,2026-04-01,2026-06-30,5,JPY,,,,,\n"  # 7: fine
        + "Beta,2026-04-01,2026-06-30,6,JPY,,,,,\n"  # 8: overlaps line 7
        + "Beta,July,2026-06-30,6,JPY,,,,,\n"  # 9
        + "Beta,2026-01-01\n"  # 10
    )
    with pytest.raises(PartnerTotalsInvalid) as info:
        partner_totals_import_csv(tenant=in_tenant, data=text.encode())
    by_line = {e.row: (e.field, e.message) for e in info.value.errors}
    assert sorted(by_line) == [3, 4, 5, 6, 8, 9, 10]
    assert by_line[3][0] == "partner" and "Nobody" in by_line[3][1]
    assert "whole calendar" in by_line[4][1]
    assert by_line[5] == ("total_amount", "A total cannot be negative.")
    assert "ABC has no conversion rate" in by_line[6][1]
    assert "already on line 7" in by_line[8][1]
    assert by_line[9][0] == "period_start"
    assert "Expected 10 columns" in by_line[10][1]
    # All or nothing: the good lines are not written, the stored total is untouched.
    assert [(r["total_amount"]) for r in _stored(in_tenant)] == [Decimal(10_000_000)]


def test_csv_refuses_a_file_without_its_columns_or_in_another_encoding(in_tenant, partners):
    with pytest.raises(PartnerTotalsInvalid) as info:
        partner_totals_import_csv(tenant=in_tenant, data=b"partner,start,end\nAlpha,x,y\n")
    assert {(e.row, e.field) for e in info.value.errors} == {
        (1, "period_start"),
        (1, "period_end"),
        (1, "total_amount"),
    }
    with pytest.raises(PartnerTotalsInvalid, match="UTF-16"):
        partner_totals_import_csv(tenant=in_tenant, data=HEADER.encode("utf-16"))
    with pytest.raises(PartnerTotalsInvalid, match="no rows"):
        partner_totals_import_csv(tenant=in_tenant, data=HEADER.encode())


def test_csv_names_shared_by_two_partners_are_ambiguous(in_tenant, partners):
    PartnerFactory(tenant=in_tenant, name="Alpha")
    with pytest.raises(PartnerTotalsInvalid, match="Several partners are named Alpha"):
        partner_totals_import_csv(
            tenant=in_tenant, data=(HEADER + "Alpha,2026-07-01,2026-09-30,1,,,,,,\n").encode()
        )


def test_command_imports_and_reports_lines(tenant, partners, tmp_path, capsys):
    good = tmp_path / "totals.csv"
    good.write_bytes((HEADER + "Alpha,2026-07-01,2026-09-30,1000,JPY,,,,,\n").encode("cp932"))
    call_command("import_partner_totals", str(good), tenant=tenant.slug)
    assert "1 new" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_bytes((HEADER + "Alpha,2026-07-01,2026-09-30,-1,JPY,,,,,\n").encode())
    with pytest.raises(CommandError, match="nothing was written"):
        call_command("import_partner_totals", str(bad), tenant=tenant.slug)
    assert "line 2: total_amount: A total cannot be negative." in capsys.readouterr().err
    assert [r["total_amount"] for r in _stored(tenant)] == [Decimal(1000)]


# --- the API -------------------------------------------------------------------------


def _body(partner, **kw):
    return {
        "partner": partner.pk,
        "period_start": "2026-07-01",
        "period_end": "2026-09-30",
        "total_amount": "10000000",
        "currency": "JPY",
        **kw,
    }


def _key_client(tenant, scopes):
    _key, raw = TenantAPIKey.objects.create_key(tenant=tenant, name=f"k-{scopes}", scopes=scopes)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def test_api_upsert_by_a_manager_then_filters(client, manager, tenant, partners, rival_partner):
    alpha, beta = partners
    client.force_login(manager)
    response = client.post(
        URL,
        [
            _body(alpha, competing_products=4, competing_product_names=["A"], note="Q3"),
            _body(beta, total_amount=None, deal_count=5, source="estimated"),
            _body(alpha, period_start="2026-04-01", period_end="2026-06-30"),
        ],
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["created"] == 3
    response = client.post(
        URL.rstrip("/"), [_body(alpha, total_amount="11000000")], content_type="application/json"
    )
    assert response.status_code == 200 and response.json()["updated"] == 1

    listed = client.get(URL).json()["results"]
    assert {r["partner"] for r in listed} == {alpha.pk, beta.pk}  # never the rival's
    assert len(listed) == 3
    q3 = client.get(URL, {"partner": alpha.pk, "period_after": "2026-07-01"}).json()["results"]
    assert [(r["granularity"], r["total_amount"], r["competing_products"]) for r in q3] == [
        ("quarter", "11000000.00", None)
    ]
    assert [r["partner"] for r in client.get(URL, {"source": "estimated"}).json()["results"]] == [
        beta.pk
    ]
    assert len(client.get(URL, {"period_before": "2026-06-30"}).json()["results"]) == 1
    assert client.get(URL, {"partner": rival_partner.pk}).status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"period_end": "2026-06-30"}, "period_end"),
        ({"period_end": "2026-08-31"}, "period_end"),
        ({"total_amount": "-1"}, "total_amount"),
        ({"currency": "XYZ"}, "currency"),
    ],
)
def test_api_bad_input_is_a_400_with_the_record_and_nothing_written(
    client, manager, tenant, partners, change, field
):
    alpha, beta = partners
    client.force_login(manager)
    response = client.post(
        URL, [_body(beta), _body(alpha, **change)], content_type="application/json"
    )
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert [(e["index"], e["field"]) for e in errors] == [(1, field)]
    assert _stored(tenant) == []


def test_api_overlap_in_a_batch_and_another_tenants_partner(
    client, manager, tenant, partners, rival_partner
):
    alpha, _beta = partners
    client.force_login(manager)
    response = client.post(URL, [_body(alpha), _body(alpha)], content_type="application/json")
    assert response.status_code == 400
    assert "may not overlap" in response.json()["errors"][0]["message"]
    response = client.post(URL, [_body(rival_partner)], content_type="application/json")
    assert response.status_code == 404  # another tenant's id looks like no id at all
    assert _stored(tenant) == []


def test_api_csv_body_reports_lines(api_client, tenant, partners):
    body = (
        HEADER + "Alpha,2026-07-01,2026-09-30,5,JPY,,,,,\nBeta,2026-07-01,2026-09-30,-5,JPY,,,,,\n"
    )
    response = api_client.post(URL, body.encode("cp932"), content_type="text/csv")
    assert response.status_code == 400
    assert [(e["line"], e["field"]) for e in response.json()["errors"]] == [(3, "total_amount")]
    response = api_client.post(URL, body.replace("-5", "5").encode(), content_type="text/csv")
    assert response.status_code == 200 and response.json()["created"] == 2


def test_api_roles_and_scopes(client, tenant, staff, viewer, owner, partners):
    alpha, _beta = partners
    payload = [_body(alpha)]
    for user in (staff, viewer):
        client.force_login(user)
        assert client.post(URL, payload, content_type="application/json").status_code == 403
        assert client.get(URL).status_code == 200
    client.force_login(owner)
    assert client.post(URL, payload, content_type="application/json").status_code == 200
    write_key = _key_client(tenant, "write")
    assert write_key.post(URL, payload, format="json").status_code == 200
    read_key = _key_client(tenant, "read")
    assert read_key.post(URL, payload, format="json").status_code == 403
    assert read_key.get(URL).status_code == 200
    client.logout()
    assert client.get(URL).status_code in (401, 403)
    assert len(_stored(tenant)) == 1


def test_admin_lists_the_tenants_totals_read_only(staff_admin, tenant, partners, rival_partner):
    alpha, _beta = partners
    with tenant_scope(tenant):
        partner_totals_upsert(tenant=tenant, records=[_record(alpha, note="acme note")])
    body = staff_admin.get("/admin/partners/partnertotal/").content.decode()
    assert "Alpha" in body and "Rival" not in body
    assert staff_admin.get("/admin/partners/partnertotal/add/").status_code == 403


def test_the_service_and_the_selector_refuse_another_tenants_scope(tenant, other_tenant, partners):
    from pse_crm.tenancy import TenantScopeError
    from web.share_of_wallet import share_of_wallet

    alpha, _beta = partners
    with tenant_scope(other_tenant):
        with pytest.raises(TenantScopeError):
            partner_totals_upsert(tenant=tenant, records=[_record(alpha)])
        with pytest.raises(TenantScopeError):
            partner_totals_import_csv(tenant=tenant, data=HEADER.encode())
        with pytest.raises(TenantScopeError):
            share_of_wallet(tenant=tenant, period_after=Q3[0], period_before=Q3[1])
    assert _stored(tenant) == []
