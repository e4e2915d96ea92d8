"""Currencies: every amount summed is in the corporate currency, by Salesforce's rule.

The small case, by hand (corporate JPY; ConversionRate = units per one JPY; amount ÷ rate):

=========  ===========  ========  =====================================  ==============
deal       amount       currency  rate used                               corporate
=========  ===========  ========  =====================================  ==============
jpy        1,000,000    JPY       the corporate currency                  1,000,000.00
usd        1,000        USD       CurrencyType 0.0068                     147,058.82
eur_in     1,000        EUR       dated 0.005 (its range covers it)       200,000.00
eur_out    1,000        EUR       CurrencyType 0.008 (on NextStartDate)   125,000.00
brl        1,000        BRL       none: unconverted, never summed         —
gbp        500          GBP       convertedAmount 80,000 sent             80,000.00
open_usd   500 (open)   USD       CurrencyType 0.0068                     73,529.41
open_brl   700 (open)   BRL       none: unconverted                       —
=========  ===========  ========  =====================================  ==============

Won total 1,552,058.82 (the raw amounts would add up to 1,004,500); open pipeline
73,529.41; two unconverted deals.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from activities.models import CurrencyRate, DatedCurrencyRate, Deal
from activities.selectors import deals_unconverted
from activities.services.currencies import (
    convert_amount,
    currency_rates_import,
    deal_amounts_convert,
    tenant_corporate_currency_set,
)
from momentum.models import MomentumSnapshot
from momentum.services import momentum_build
from pse_crm.models import AuditEvent, Tenant
from pse_crm.roles import Role
from pse_crm.tenancy import TenantScopeError, tenant_scope
from segmentation.models import PartnerSegment, RepSegment, SegmentationRun
from segmentation.services.runs import segmentation_run
from tests.activities.factories import DealFactory
from tests.factories import MembershipFactory
from tests.partners.factories import PartnerFactory
from tests.reps.factories import RepFactory
from web.selectors import rep_deal_summary

pytestmark = pytest.mark.django_db

RATES = "/api/v1/currency-rates/"
WON_TOTAL = Decimal("1552058.82")
OPEN_TOTAL = Decimal("73529.41")


def _monday() -> dt.date:
    day = timezone.localdate() - dt.timedelta(days=14)
    return day - dt.timedelta(days=day.weekday())


def _rates_page(monday: dt.date) -> dict:
    """As Salesforce answers ``SELECT … FROM CurrencyType`` / ``DatedConversionRate``."""
    return {
        "totalSize": 5,
        "done": True,
        "records": [
            {
                "attributes": {"type": "CurrencyType", "url": "/services/data/v62.0/x"},
                "IsoCode": "JPY",
                "ConversionRate": 1,
                "IsCorporate": True,
                "IsActive": True,
            },
            {
                "attributes": {"type": "CurrencyType"},
                "IsoCode": "USD",
                "ConversionRate": 0.0068,
                "IsCorporate": False,
                "IsActive": True,
            },
            {
                "attributes": {"type": "CurrencyType"},
                "IsoCode": "EUR",
                "ConversionRate": 0.008,
                "IsCorporate": False,
                "IsActive": True,
            },
            # No attributes: told apart by its fields.
            {
                "IsoCode": "EUR",
                "ConversionRate": 0.005,
                "StartDate": (monday - dt.timedelta(days=30)).isoformat(),
                "NextStartDate": (monday + dt.timedelta(days=3)).isoformat(),
            },
            # An inactive currency's rate is not used.
            {
                "attributes": {"type": "CurrencyType"},
                "IsoCode": "BRL",
                "ConversionRate": 0.033,
                "IsCorporate": False,
                "IsActive": False,
            },
        ],
    }


def _deals(tenant, monday):
    """The small case's deals of one rep of one partner (created in the tenant's scope)."""
    partner = PartnerFactory(tenant=tenant, name=f"{tenant.slug} partner")
    rep = RepFactory(tenant=tenant, partner=partner, name=f"{tenant.slug} rep")
    won = {"is_closed": True, "is_won": True, "stage": "Closed Won"}
    plan = {
        "jpy": dict(amount=1_000_000, currency="JPY", close_date=monday, **won),
        "usd": dict(amount=1000, currency="USD", close_date=monday + dt.timedelta(1), **won),
        "eur_in": dict(amount=1000, currency="EUR", close_date=monday + dt.timedelta(2), **won),
        "eur_out": dict(amount=1000, currency="EUR", close_date=monday + dt.timedelta(3), **won),
        "brl": dict(amount=1000, currency="BRL", close_date=monday + dt.timedelta(1), **won),
        "gbp": dict(
            amount=500,
            currency="GBP",
            sf_converted_amount=80_000,
            close_date=monday + dt.timedelta(4),
            **won,
        ),
        "open_usd": {"amount": 500, "currency": "USD", "close_date": monday + dt.timedelta(40)},
        "open_brl": {"amount": 700, "currency": "BRL", "close_date": monday + dt.timedelta(40)},
    }
    deals = {
        name: DealFactory(tenant=tenant, rep=rep, partner=partner, amount_corporate=None, **values)
        for name, values in plan.items()
    }
    deal_amounts_convert(tenant=tenant)  # as the sync does after its upsert
    return partner, rep, deals


@pytest.fixture
def case(tenant, other_tenant):
    """The small case in ``tenant`` (rates imported), and the same deals in ``other_tenant``
    with a wildly different USD rate and no other: neither may leak into the other."""
    monday = _monday()
    with tenant_scope(other_tenant):
        _o_partner, _o_rep, other_deals = _deals(other_tenant, monday)
        currency_rates_import(
            tenant=other_tenant,
            records=[{"IsoCode": "USD", "ConversionRate": 2, "IsActive": True}],
        )
    with tenant_scope(tenant):
        partner, rep, deals = _deals(tenant, monday)
        result = currency_rates_import(tenant=tenant, records=_rates_page(monday))
    return {
        "monday": monday,
        "partner": partner,
        "rep": rep,
        "deals": deals,
        "other_deals": other_deals,
        "result": result,
    }


def _corporate(deals) -> dict[str, Decimal | None]:
    rows = dict(
        Deal.objects.filter(pk__in=[d.pk for d in deals.values()]).values_list(
            "pk", "amount_corporate"
        )
    )
    return {name: rows[d.pk] for name, d in deals.items()}


EXPECTED = {
    "jpy": Decimal("1000000.00"),
    "usd": Decimal("147058.82"),
    "eur_in": Decimal("200000.00"),
    "eur_out": Decimal("125000.00"),
    "brl": None,
    "gbp": Decimal("80000.00"),
    "open_usd": Decimal("73529.41"),
    "open_brl": None,
}


# --- conversion -----------------------------------------------------------------------------


def test_import_converts_every_deal_by_hand(case, tenant, other_tenant):
    assert case["result"].currency_types == 4
    assert case["result"].dated_rates == 1
    assert case["result"].created == 5
    with tenant_scope(tenant):
        assert _corporate(case["deals"]) == EXPECTED
    with tenant_scope(other_tenant):
        # The other tenant's USD rate (2) only; its EUR has no rate there at all.
        assert _corporate(case["other_deals"]) == {
            "jpy": Decimal("1000000.00"),
            "usd": Decimal("500.00"),
            "eur_in": None,
            "eur_out": None,
            "brl": None,
            "gbp": Decimal("80000.00"),
            "open_usd": Decimal("250.00"),
            "open_brl": None,
        }


def test_deal_amounts_convert_touches_only_the_named_deals_of_the_tenant(
    case, tenant, other_tenant
):
    with tenant_scope(tenant):
        Deal.objects.filter(pk__in=[d.pk for d in case["deals"].values()]).update(
            amount_corporate=None
        )
        assert deal_amounts_convert(tenant=tenant, sf_ids=[case["deals"]["usd"].sf_id]) == 1
        got = _corporate(case["deals"])
        assert got["usd"] == EXPECTED["usd"]
        assert got["jpy"] is None  # not named: left as it was
        assert deal_amounts_convert(tenant=tenant) == len(case["deals"])
        assert _corporate(case["deals"]) == EXPECTED
        # A converted amount that arrives later wins over the rate.
        Deal.objects.filter(pk=case["deals"]["brl"].pk).update(sf_converted_amount=33_000)
        deal_amounts_convert(tenant=tenant, sf_ids=[case["deals"]["brl"].sf_id])
        assert _corporate(case["deals"])["brl"] == Decimal("33000.00")
    with tenant_scope(other_tenant):
        assert _corporate(case["other_deals"])["usd"] == Decimal("500.00")


def test_deal_amounts_convert_refuses_another_tenant_than_the_scope(case, tenant, other_tenant):
    with tenant_scope(tenant), pytest.raises(TenantScopeError):
        deal_amounts_convert(tenant=other_tenant)
    with tenant_scope(other_tenant):
        assert _corporate(case["other_deals"])["usd"] == Decimal("500.00")


def test_convert_amount_follows_the_same_rule(case, tenant, other_tenant):
    monday = case["monday"]
    with tenant_scope(tenant):
        convert = lambda amount, currency, on: convert_amount(  # noqa: E731
            tenant=tenant, amount=amount, currency=currency, on_date=on
        )
        assert convert(Decimal(1000), "USD", monday) == Decimal("147058.82")
        assert convert(Decimal(1000), "USD", None) == Decimal("147058.82")
        assert convert(Decimal(1000), "EUR", monday) == Decimal("200000.00")
        assert convert(Decimal(1000), "EUR", monday + dt.timedelta(3)) == Decimal("125000.00")
        assert convert(Decimal(1000), "EUR", None) == Decimal("125000.00")
        assert convert(Decimal(1000), "BRL", monday) is None  # inactive rate
        assert convert(Decimal(1000), "CHF", monday) is None
        assert convert(Decimal("1234.5"), "jpy", None) == Decimal("1234.50")
        assert convert(None, "USD", None) is None
        with pytest.raises(TenantScopeError):
            convert_amount(tenant=other_tenant, amount=Decimal(1), currency="USD", on_date=None)
    with tenant_scope(other_tenant):
        assert convert_amount(
            tenant=other_tenant, amount=Decimal(1000), currency="USD", on_date=None
        ) == Decimal("500.00")


def test_reimport_updates_rates_and_reconverts(case, tenant):
    with tenant_scope(tenant):
        result = currency_rates_import(
            tenant=tenant,
            records=[
                {"attributes": {"type": "CurrencyType"}, "IsoCode": "USD", "ConversionRate": 0.01}
            ],
        )
        assert (result.created, result.updated, result.deals_recomputed) == (0, 1, 2)
        got = _corporate(case["deals"])
        assert got["usd"] == Decimal("100000.00")
        assert got["open_usd"] == Decimal("50000.00")
        assert got["eur_in"] == EXPECTED["eur_in"]
        assert CurrencyRate.objects.count() == 4


# --- the sums -------------------------------------------------------------------------------


def test_segmentation_sums_corporate_amounts_and_leaves_unconverted_out(case, tenant):
    with tenant_scope(tenant):
        run = segmentation_run(tenant=tenant)
        assert run.status == SegmentationRun.Status.SUCCEEDED, run.error
        seg = RepSegment.objects.get(run=run, rep=case["rep"])
        assert seg.won_amount == WON_TOTAL
        assert seg.open_pipeline_amount == OPEN_TOTAL
        assert seg.won_deals == 6  # a count, not an amount: the BRL deal was won
        assert PartnerSegment.objects.get(run=run, partner=case["partner"]).won_amount == WON_TOTAL


def test_segments_api_shows_the_sums_and_the_unconverted_deals(case, tenant, other_tenant, client):
    for t in (tenant, other_tenant):
        with tenant_scope(t):
            segmentation_run(tenant=t)
    client.force_login(MembershipFactory(tenant=tenant, role=Role.MANAGER).user)
    rows = client.get("/api/v1/segments/").json()["results"]
    assert [
        (r["rep"], r["won_amount"], r["open_pipeline_amount"], r["unconverted_deals"]) for r in rows
    ] == [(case["rep"].pk, "1552058.82", "73529.41", 2)]
    detail = client.get(f"/api/v1/segments/{rows[0]['id']}/").json()
    assert detail["unconverted_deals"] == 2
    partners = client.get("/api/v1/segmentation/partners/").json()["results"]
    assert [(p["partner"], p["won_amount"], p["unconverted_deals"]) for p in partners] == [
        (case["partner"].pk, "1552058.82", 2)
    ]


def test_momentum_sums_corporate_amounts(case, tenant, other_tenant):
    with tenant_scope(tenant):
        momentum_build(tenant=tenant, mondays=[case["monday"]])
        rows = {s.partner_id: s for s in MomentumSnapshot.objects.filter(week_start=case["monday"])}
        assert rows[case["partner"].pk].won_amount == WON_TOTAL
        assert rows[case["partner"].pk].won_deals == 6
        assert rows[None].won_amount == WON_TOTAL
    with tenant_scope(other_tenant):
        momentum_build(tenant=other_tenant, mondays=[case["monday"]])
        total = MomentumSnapshot.objects.get(week_start=case["monday"], partner=None)
        assert total.won_amount == Decimal("1080500.00")  # 1,000,000 + 500 + 80,000


def test_momentum_api_shows_the_sums_and_the_unconverted_deals(case, tenant, other_tenant, client):
    for t in (tenant, other_tenant):
        with tenant_scope(t):
            momentum_build(tenant=t, mondays=[case["monday"]])
    client.force_login(MembershipFactory(tenant=tenant, role=Role.MANAGER).user)
    rows = client.get("/api/v1/momentum/").json()["results"]
    assert sorted(
        (r["partner"] or 0, r["week_start"], r["won_amount"], r["unconverted_deals"]) for r in rows
    ) == [
        (0, case["monday"].isoformat(), "1552058.82", 1),
        (case["partner"].pk, case["monday"].isoformat(), "1552058.82", 1),
    ]


def test_web_selectors_sum_corporate_amounts_and_count_unconverted(case, tenant):
    with tenant_scope(tenant):
        summary = rep_deal_summary(rep=case["rep"])
        assert summary.won_amount == int(WON_TOTAL)
        assert summary.won == 6
        assert summary.won_unconverted == 1
        unconverted = deals_unconverted(tenant=tenant)
        assert (unconverted.count, unconverted.by_currency) == (2, {"BRL": 2})
        assert deals_unconverted(tenant=tenant, partner_id=case["partner"].pk).count == 2
        assert deals_unconverted(tenant=tenant, rep_id=case["rep"].pk).count == 2


def test_dashboard_partner_and_rep_pages_note_the_unconverted_deals(case, tenant, manager_client):
    with tenant_scope(tenant):
        segmentation_run(tenant=tenant)
    for url in (
        reverse("dashboard"),
        reverse("partner-detail", args=[case["partner"].pk]),
        reverse("rep-detail", args=[case["rep"].pk]),
    ):
        response = manager_client.get(url)
        assert response.status_code == 200
        body = response.content.decode()
        assert 'data-testid="unconverted-deals"' in body, url
    dashboard = manager_client.get(reverse("dashboard")).content.decode()
    assert "2 won or open deals in BRL" in dashboard
    partner = manager_client.get(reverse("partner-detail", args=[case["partner"].pk]))
    assert "¥1,552,058" in partner.content.decode()


def test_pages_without_unconverted_deals_say_nothing(tenant, manager_client):
    with tenant_scope(tenant):
        DealFactory(tenant=tenant, amount=1000, currency="JPY", is_won=True, is_closed=True)
    body = manager_client.get(reverse("dashboard")).content.decode()
    assert 'data-testid="unconverted-deals"' not in body


# --- the API --------------------------------------------------------------------------------


def test_post_rates_as_the_feed_then_list_them(tenant, other_tenant, api_client, other_api_client):
    monday = _monday()
    with tenant_scope(tenant):
        _partner, _rep, deals = _deals(tenant, monday)
    response = api_client.post(RATES, _rates_page(monday), format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body == {
        "currency_types": 4,
        "dated_rates": 1,
        "created": 5,
        "updated": 0,
        "deals_recomputed": 7,  # not the GBP deal: its currency was not imported
        "iso_codes": ["BRL", "EUR", "JPY", "USD"],
        "corporate_currency": "JPY",
    }
    with tenant_scope(tenant):
        assert _corporate(deals) == EXPECTED
    # A bare list (as simple-salesforce's query_all_iter yields it), no trailing slash.
    response = other_api_client.post(
        RATES.rstrip("/"), [{"IsoCode": "USD", "ConversionRate": 2}], format="json"
    )
    assert response.status_code == 200, response.content
    rows = api_client.get(RATES).json()["results"]
    assert [(r["iso_code"], r["conversion_rate"], r["is_active"]) for r in rows] == [
        ("BRL", "0.033000000", False),
        ("EUR", "0.008000000", True),
        ("JPY", "1.000000000", True),
        ("USD", "0.006800000", True),
    ]
    assert [
        r["iso_code"] for r in api_client.get(RATES, {"iso_code": "usd"}).json()["results"]
    ] == ["USD"]
    assert [
        r["iso_code"] for r in api_client.get(RATES, {"active": "false"}).json()["results"]
    ] == ["BRL"]
    assert api_client.get(RATES, {"active": "maybe"}).status_code == 400
    assert api_client.get(f"{RATES}usd/").json()["conversion_rate"] == "0.006800000"
    assert other_api_client.get(f"{RATES}EUR/").status_code == 404
    dated = api_client.get(f"{RATES}dated/", {"on": monday.isoformat()}).json()["results"]
    assert [(r["iso_code"], r["conversion_rate"]) for r in dated] == [("EUR", "0.005000000")]
    assert (
        api_client.get(f"{RATES}dated/", {"on": (monday + dt.timedelta(3)).isoformat()}).json()[
            "results"
        ]
        == []
    )
    other_rows = other_api_client.get(RATES).json()["results"]
    assert [(r["iso_code"], r["conversion_rate"]) for r in other_rows] == [("USD", "2.000000000")]


@pytest.mark.parametrize(
    ("records", "errors"),
    [
        (
            [{"IsoCode": "USD", "ConversionRate": 0}, {"IsoCode": "EUR", "ConversionRate": -1}],
            [(0, "ConversionRate"), (1, "ConversionRate")],
        ),
        ([{"IsoCode": "US", "ConversionRate": 1.1}], [(0, "IsoCode")]),
        ([{"IsoCode": "usd", "ConversionRate": 1.1}], [(0, "IsoCode")]),
        (
            [
                {
                    "attributes": {"type": "CurrencyType"},
                    "IsoCode": "USD",
                    "ConversionRate": 1.1,
                    "StartDate": "2026-01-01",
                }
            ],
            [(0, "StartDate")],
        ),
        ([{"attributes": {}, "IsoCode": "USD", "ConversionRate": 1.1}], [(0, "attributes.type")]),
        ([{"IsoCode": "USD", "ConversionRate": 1.1, "IsActive": None}], [(0, "IsActive")]),
        (
            [
                {
                    "IsoCode": "EUR",
                    "ConversionRate": 0.5,
                    "StartDate": "2026-03-01T00:00:00Z",
                    "NextStartDate": "20260401",
                }
            ],
            [(0, "StartDate"), (0, "NextStartDate")],
        ),
        ([{"IsoCode": "USD", "ConversionRate": "0.0068"}], [(0, "ConversionRate")]),
        ([{"IsoCode": "USD", "ConversionRate": 1e-10}], [(0, "ConversionRate")]),
        ([{"IsoCode": "USD", "ConversionRate": 1e15}], [(0, "ConversionRate")]),
        (
            [{"IsoCode": "USD", "ConversionRate": "abc", "IsActive": "yes"}],
            [(0, "ConversionRate"), (0, "IsActive")],
        ),
        (
            [
                {
                    "IsoCode": "EUR",
                    "ConversionRate": 0.5,
                    "StartDate": "2026-03-01",
                    "NextStartDate": "2026-03-01",
                }
            ],
            [(0, "NextStartDate")],
        ),
        (
            [
                {
                    "IsoCode": "EUR",
                    "ConversionRate": 0.5,
                    "StartDate": "2026-03-01",
                    "NextStartDate": 1767225600000,
                }
            ],
            [(0, "NextStartDate")],
        ),
        (
            [
                {
                    "attributes": {"type": "CurrencyType"},
                    "IsoCode": "USD",
                    "ConversionRate": 1,
                    "IsCorporate": True,
                }
            ],
            [(0, "IsCorporate")],
        ),
        ([{"IsoCode": "JPY", "ConversionRate": 150}], [(0, "ConversionRate")]),
        (
            [
                {"IsoCode": "USD", "ConversionRate": 0.0068},
                {"IsoCode": "USD", "ConversionRate": 0.007},
            ],
            [(1, "IsoCode")],
        ),
        ([{"attributes": {"type": "Opportunity"}, "Id": "006"}], [(0, "attributes.type")]),
        (["USD"], [(0, "")]),
    ],
)
def test_bad_rates_are_a_400_per_record_and_nothing_is_written(tenant, api_client, records, errors):
    with tenant_scope(tenant):
        deal = DealFactory(tenant=tenant, amount=1000, currency="USD", amount_corporate=None)
    good = {"IsoCode": "CHF", "ConversionRate": 0.0059}
    response = api_client.post(RATES, {"records": [*records, good]}, format="json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["detail"].endswith("nothing was written.")
    assert [(e["index"], e["field"]) for e in body["errors"]] == errors
    assert all(e["message"] for e in body["errors"])
    with tenant_scope(tenant):
        assert not CurrencyRate.objects.exists()
        assert not DatedCurrencyRate.objects.exists()
        deal.refresh_from_db()
        assert deal.amount_corporate is None


def test_the_corporate_mismatch_says_what_to_do(tenant, api_client):
    response = api_client.post(
        RATES, [{"IsoCode": "USD", "ConversionRate": 1, "IsCorporate": True}], format="json"
    )
    message = response.json()["errors"][0]["message"]
    assert "JPY" in message and "settings" in message


@pytest.mark.parametrize("body", [{"totalSize": 0}, "USD", 42])
def test_a_body_that_is_no_page_or_list_is_a_400(api_client, body):
    response = api_client.post(RATES, body, format="json")
    assert response.status_code == 400
    assert "detail" in response.json()


def test_rates_writes_are_for_the_feed_and_owners(tenant, client):
    monday = _monday()
    for role, expected in ((Role.MANAGER, 403), (Role.VIEWER, 403), (Role.OWNER, 200)):
        client.force_login(MembershipFactory(tenant=tenant, role=role).user)
        response = client.post(RATES, _rates_page(monday), content_type="application/json")
        assert response.status_code == expected, (role, response.content)
        assert client.get(RATES).status_code == 200
    client.logout()
    assert client.get(RATES).status_code in (401, 403)


def test_schema_documents_the_rates_endpoint(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    post = schema["paths"]["/api/v1/currency-rates/"]["post"]
    assert "400" in post["responses"]
    body = str(post["requestBody"])
    assert "DatedConversionRate" in body and "NextStartDate" in body
    assert "/api/v1/currency-rates/dated/" in schema["paths"]


# --- the corporate currency ------------------------------------------------------------------


def test_changing_the_corporate_currency_restates_rates_and_reconverts(case, tenant, other_tenant):
    with tenant_scope(tenant):
        tenant_corporate_currency_set(tenant=tenant, currency="usd")
        assert Tenant.objects.get(pk=tenant.pk).corporate_currency == "USD"
        rates = dict(CurrencyRate.objects.values_list("iso_code", "conversion_rate"))
        assert rates["USD"] == Decimal(1)
        assert rates["JPY"] == Decimal("147.058823529")
        assert rates["EUR"] == Decimal("1.176470588")
        assert CurrencyRate.objects.get(is_corporate=True).iso_code == "USD"
        assert list(DatedCurrencyRate.objects.values_list("iso_code", "conversion_rate")) == [
            ("EUR", Decimal("0.735294118"))
        ]
        assert _corporate(case["deals"]) == {
            "jpy": Decimal("6800.00"),
            "usd": Decimal("1000.00"),
            "eur_in": Decimal("1360.00"),
            "eur_out": Decimal("850.00"),
            "brl": None,
            # Salesforce's converted amount was in yen: dropped until the sync sends it
            # again, and GBP has no rate.
            "gbp": None,
            "open_usd": Decimal("500.00"),
            "open_brl": None,
        }
    with tenant_scope(other_tenant):
        assert Tenant.objects.get(pk=other_tenant.pk).corporate_currency == "JPY"
        assert _corporate(case["other_deals"])["usd"] == Decimal("500.00")
        assert _corporate(case["other_deals"])["gbp"] == Decimal("80000.00")


def test_a_corporate_currency_without_a_rate_is_refused(case, tenant):
    with tenant_scope(tenant):
        with pytest.raises(ValidationError, match="CHF"):
            tenant_corporate_currency_set(tenant=tenant, currency="CHF")
        with pytest.raises(ValidationError):
            tenant_corporate_currency_set(tenant=tenant, currency="yen")
        assert Tenant.objects.get(pk=tenant.pk).corporate_currency == "JPY"
        assert _corporate(case["deals"]) == EXPECTED


def test_a_tenant_without_rates_changes_freely(tenant):
    with tenant_scope(tenant):
        deal = DealFactory(tenant=tenant, amount=1000, currency="USD", amount_corporate=None)
        tenant_corporate_currency_set(tenant=tenant, currency="USD")
        deal.refresh_from_db()
        assert deal.amount_corporate == Decimal("1000.00")


def test_a_change_made_meanwhile_is_the_one_rebased_from(case, tenant):
    """Two owners at once: the second change starts from the stored corporate currency,
    not from the one its request had read."""
    with tenant_scope(tenant):
        stale = Tenant.objects.get(pk=tenant.pk)
        tenant_corporate_currency_set(tenant=tenant, currency="USD")
        tenant_corporate_currency_set(tenant=stale, currency="EUR")
        assert Tenant.objects.get(pk=tenant.pk).corporate_currency == "EUR"
        rates = dict(CurrencyRate.objects.values_list("iso_code", "conversion_rate"))
        assert rates["EUR"] == Decimal(1)
        assert rates["USD"] == Decimal("0.85")
        # The dated EUR rate, restated against USD, is now USD's against EUR.
        assert list(DatedCurrencyRate.objects.values_list("iso_code", "conversion_rate")) == [
            ("USD", Decimal("1.359999999"))
        ]


def test_the_settings_page_changes_the_corporate_currency(case, tenant, client):
    url = reverse("settings-currency")
    client.force_login(MembershipFactory(tenant=tenant, role=Role.MANAGER).user)
    assert client.get(url).status_code == 403
    assert client.post(url, {"corporate_currency": "USD"}).status_code == 403
    client.force_login(MembershipFactory(tenant=tenant, role=Role.OWNER).user)
    page = client.get(url)
    assert page.status_code == 200
    assert 'data-testid="currency-rates"' in page.content.decode()
    refused = client.post(url, {"corporate_currency": "CHF"})
    assert refused.status_code == 200 and "CHF" in refused.content.decode()
    response = client.post(url, {"corporate_currency": "usd"})
    assert response.status_code == 302
    with tenant_scope(tenant):
        assert Tenant.objects.get(pk=tenant.pk).corporate_currency == "USD"
        assert _corporate(case["deals"])["usd"] == Decimal("1000.00")
        changes = AuditEvent.objects.filter(model_label="pse_crm.Tenant").values_list(
            "changes", flat=True
        )
        assert ["JPY", "USD"] in [c.get("corporate_currency") for c in changes]
    # Sums now read in dollars.
    with tenant_scope(tenant):
        segmentation_run(tenant=tenant)
    partner = client.get(reverse("partner-detail", args=[case["partner"].pk])).content.decode()
    assert "$" in partner and "¥" not in partner.split("Won in window")[1][:200]


def test_create_tenant_takes_a_corporate_currency(db):
    call_command("create_tenant", slug="dollar", name="Dollar Inc", currency="usd")
    assert Tenant.objects.get(slug="dollar").corporate_currency == "USD"
    call_command("create_tenant", slug="yen", name="Yen KK")
    assert Tenant.objects.get(slug="yen").corporate_currency == "JPY"
    call_command("create_tenant", slug="dollar", name="Dollar Inc", currency="USD")  # unchanged
    with pytest.raises(CommandError, match="settings page"):
        call_command("create_tenant", slug="dollar", name="Dollar Inc", currency="EUR")
    with pytest.raises(CommandError, match="three-letter"):
        call_command("create_tenant", slug="bad", name="Bad", currency="EURO")
    assert not Tenant.objects.filter(slug="bad").exists()


# --- the admin ------------------------------------------------------------------------------


def test_an_amount_fixed_in_the_admin_is_reconverted(case, tenant, client):
    from tests.helpers import admin_client_for

    admin = admin_client_for(client, tenant, role=Role.OWNER)
    deal = case["deals"]["usd"]
    url = reverse("admin:activities_deal_change", args=[deal.pk])
    assert admin.get(url).status_code == 200
    stamp = timezone.localtime(deal.system_modstamp)
    response = admin.post(
        url,
        {
            "sf_id": deal.sf_id,
            "name": deal.name,
            "partner": deal.partner_id,
            "rep": deal.rep_id,
            "stage": deal.stage,
            "amount": "2000",
            "currency": "USD",
            "is_closed": "on",
            "is_won": "on",
            "close_date": deal.close_date.isoformat(),
            "system_modstamp_0": stamp.date().isoformat(),
            "system_modstamp_1": stamp.strftime("%H:%M:%S"),
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    with tenant_scope(tenant):
        deal.refresh_from_db()
        assert (deal.amount, deal.amount_corporate) == (Decimal("2000.00"), Decimal("294117.65"))


def test_rates_are_read_only_in_the_admin(case, tenant, client):
    from tests.helpers import admin_client_for

    admin = admin_client_for(client, tenant, role=Role.OWNER)
    page = admin.get(reverse("admin:activities_currencyrate_changelist"))
    assert page.status_code == 200
    body = page.content.decode()
    assert "USD" in body and "0.006800000" in body
    assert admin.get(reverse("admin:activities_currencyrate_add")).status_code == 403
    with tenant_scope(tenant):
        usd = CurrencyRate.objects.get(iso_code="USD")
    change = reverse("admin:activities_currencyrate_change", args=[usd.pk])
    assert admin.post(change, {"conversion_rate": "1"}).status_code == 403
    with tenant_scope(tenant):
        assert CurrencyRate.objects.get(iso_code="USD").conversion_rate == Decimal("0.0068")


def test_the_currency_reads_refuse_another_tenant_than_the_scope(case, tenant, other_tenant):
    from activities.selectors import (
        currency_rates_get,
        deals_unconverted_counts,
        deals_unconverted_won_by_week,
    )

    with tenant_scope(tenant):
        for read in (
            lambda: deals_unconverted(tenant=other_tenant),
            lambda: deals_unconverted_counts(tenant=other_tenant, by="rep"),
            lambda: deals_unconverted_won_by_week(tenant=other_tenant, mondays=[case["monday"]]),
            lambda: currency_rates_get(tenant=other_tenant),
        ):
            with pytest.raises(TenantScopeError):
                read()
        rates, dated = currency_rates_get(tenant=tenant)
        assert [r.iso_code for r in rates] == ["BRL", "EUR", "JPY", "USD"]
        assert [(d.iso_code, d.conversion_rate) for d in dated] == [("EUR", Decimal("0.005"))]
        assert deals_unconverted_counts(tenant=tenant, by="partner") == {case["partner"].pk: 2}
    with tenant_scope(other_tenant):
        # Its BRL and EUR deals have no rate there (no EUR rate at all).
        assert deals_unconverted(tenant=other_tenant).by_currency == {"BRL": 2, "EUR": 2}
