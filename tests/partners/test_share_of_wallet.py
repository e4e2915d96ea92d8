"""Share of wallet by hand for a small case, the conversion of totals, the movers, the
query count, and ``GET /api/v1/share-of-wallet/`` (roles, scopes, tenants).

The case, in a JPY tenant, 2026 Q2 and Q3 (USD: 200 yen, and 250 yen in Q3 by a dated
rate; EUR has no rate):

============  ===========================  ===============================  ===========
partner       our wins                     total                            share
============  ===========================  ===============================  ===========
Alpha Q2      3,000,000                    10,000,000 JPY                   0.30
Alpha Q3      2,000,000 + 1,000 USD (250k)  15,000,000 JPY                   0.15
              + 100 EUR (unconverted)
Beta Q2       4,000,000                    3,000,000 JPY (below our wins)   inconsistent
Beta Q3       1,000,000                    20,000 USD = 5,000,000 JPY       0.20
Gamma Q3      500,000                      none                             none
============  ===========================  ===============================  ===========

Not counted: a lost deal, a deleted won deal, an open deal, a won deal of Q4.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from activities.models import CurrencyRate, DatedCurrencyRate
from activities.services.currencies import convert_amount, deal_amounts_convert
from partners.models import PartnerTotal
from partners.periods import period_shift
from pse_crm.models import TenantAPIKey
from pse_crm.tenancy import tenant_scope
from tests.activities.factories import DealFactory
from tests.partners.factories import PartnerFactory
from tests.reps.factories import RepFactory
from web.share_of_wallet import last_complete_period, share_movers, share_of_wallet

pytestmark = pytest.mark.django_db

URL = "/api/v1/share-of-wallet/"
Q2 = (dt.date(2026, 4, 1), dt.date(2026, 6, 30))
Q3 = (dt.date(2026, 7, 1), dt.date(2026, 9, 30))


def _won(rep, amount, close_date, currency="JPY", **kw):
    return DealFactory(
        rep=rep,
        amount=amount,
        currency=currency,
        is_closed=True,
        is_won=True,
        close_date=close_date,
        **kw,
    )


def _total(partner, period, amount, currency="JPY", **kw):
    return PartnerTotal.objects.create(
        tenant=partner.tenant,
        partner=partner,
        granularity="quarter",
        period_start=period[0],
        period_end=period[1],
        total_amount=amount,
        currency=currency,
        **kw,
    )


def build_case(tenant, prefix=""):
    with tenant_scope(tenant):
        CurrencyRate.objects.create(tenant=tenant, iso_code="USD", conversion_rate=Decimal("0.005"))
        DatedCurrencyRate.objects.create(
            tenant=tenant,
            iso_code="USD",
            conversion_rate=Decimal("0.004"),
            start_date=Q3[0],
            next_start_date=dt.date(2026, 10, 1),
        )
        alpha = PartnerFactory(tenant=tenant, name=f"{prefix}Alpha", competing_products=4)
        beta = PartnerFactory(tenant=tenant, name=f"{prefix}Beta")
        gamma = PartnerFactory(tenant=tenant, name=f"{prefix}Gamma")
        a, b, g = (RepFactory(partner=p) for p in (alpha, beta, gamma))
        _won(a, 3_000_000, dt.date(2026, 5, 10))
        _won(a, 2_000_000, dt.date(2026, 7, 3))
        _won(a, 1_000, dt.date(2026, 8, 15), currency="USD")
        _won(a, 100, dt.date(2026, 9, 30), currency="EUR")
        DealFactory(rep=a, amount=5_000_000, is_closed=True, close_date=dt.date(2026, 5, 1))
        _won(a, 9_000_000, dt.date(2026, 5, 2), is_deleted=True)
        DealFactory(rep=a, amount=7_000_000, close_date=dt.date(2026, 8, 1))
        _won(a, 8_000_000, dt.date(2026, 10, 1))
        _won(b, 4_000_000, dt.date(2026, 6, 30))
        _won(b, 1_000_000, dt.date(2026, 7, 1))
        _won(g, 500_000, dt.date(2026, 9, 1))
        deal_amounts_convert(tenant=tenant)
        _total(alpha, Q2, Decimal(10_000_000), competing_product_names=["X", "Y"])
        _total(alpha, Q3, Decimal(15_000_000), source="estimated")
        _total(beta, Q2, Decimal(3_000_000))
        _total(beta, Q3, Decimal(20_000), currency="USD", deal_count=10, competing_products=3)
    return alpha, beta, gamma


def _by_key(rows):
    return {(r.partner_name, r.period_start): r for r in rows}


def test_shares_by_hand(tenant):
    build_case(tenant)
    with tenant_scope(tenant):
        rows = share_of_wallet(tenant=tenant, period_after=Q2[0], period_before=Q3[1])
    assert [(r.partner_name, r.period_start) for r in rows] == [
        ("Alpha", Q2[0]),
        ("Alpha", Q3[0]),
        ("Beta", Q2[0]),
        ("Beta", Q3[0]),
        ("Gamma", Q2[0]),
        ("Gamma", Q3[0]),
    ]
    by = _by_key(rows)
    a2, a3 = by[("Alpha", Q2[0])], by[("Alpha", Q3[0])]
    assert (a2.our_amount, a2.partner_total, a2.share) == (
        Decimal(3_000_000),
        Decimal(10_000_000),
        pytest.approx(0.30),
    )
    assert a2.competing_product_names == ["X", "Y"] and a2.source == "reported"
    # 1,000 USD at the dated 250 yen; the EUR deal is counted apart, never summed raw.
    assert (a3.our_amount, a3.unconverted_deals, a3.our_deals) == (Decimal(2_250_000), 1, 3)
    assert a3.share == pytest.approx(0.15) and a3.source == "estimated"
    b2, b3 = by[("Beta", Q2[0])], by[("Beta", Q3[0])]
    assert (b2.share, b2.inconsistent, b2.status) == (None, True, "inconsistent")
    # 20,000 USD at the rate of the quarter's last day (dated: 250 yen).
    assert (b3.partner_total, b3.share, b3.status) == (Decimal(5_000_000), 0.2, "share")
    assert (b3.our_deals, b3.partner_deal_count, b3.deal_share) == (1, 10, 0.1)
    assert b3.competing_products == 3
    g3 = by[("Gamma", Q3[0])]
    assert (g3.our_amount, g3.has_total, g3.share, g3.status) == (
        Decimal(500_000),
        False,
        None,
        "no_total",
    )
    assert by[("Gamma", Q2[0])].share is None


def test_a_total_without_a_rate_has_no_share(in_tenant):
    alpha, _beta, _gamma = build_case(in_tenant)
    # Stored while EUR had a rate, which has gone since.
    _total(alpha, (dt.date(2026, 1, 1), dt.date(2026, 3, 31)), Decimal(100), currency="EUR")
    [row] = share_of_wallet(
        tenant=in_tenant,
        period_after=dt.date(2026, 1, 1),
        period_before=dt.date(2026, 3, 31),
        partner_ids=[alpha.pk],
    )
    assert (row.total_unconverted, row.partner_total, row.share, row.status) == (
        True,
        None,
        None,
        "unconverted",
    )


@pytest.mark.parametrize(
    ("currency", "on_date"),
    [("JPY", Q3[1]), ("USD", Q3[1]), ("USD", Q2[1]), ("EUR", Q3[1]), ("GBP", Q3[1])],
)
def test_totals_convert_as_convert_amount_does(in_tenant, currency, on_date):
    """The selector converts in SQL; it must agree with the one rule in Python."""
    alpha, *_ = build_case(in_tenant)
    CurrencyRate.objects.create(
        tenant=in_tenant, iso_code="GBP", conversion_rate=Decimal("0.0043"), is_active=False
    )
    PartnerTotal.objects.filter(partner=alpha).delete()
    period = Q3 if on_date == Q3[1] else Q2
    _total(alpha, period, Decimal("123456.78"), currency=currency)
    [row] = share_of_wallet(
        tenant=in_tenant, period_after=period[0], period_before=period[1], partner_ids=[alpha.pk]
    )
    expected = convert_amount(
        tenant=in_tenant, amount=Decimal("123456.78"), currency=currency, on_date=on_date
    )
    assert row.partner_total == expected


def test_movers_of_the_last_complete_quarter(in_tenant):
    last = last_complete_period(in_tenant)
    previous = period_shift(last[0], "quarter", -1)
    up, down, flat, none = (
        PartnerFactory(tenant=in_tenant, name=n) for n in ("Up", "Down", "Flat", "None")
    )
    for partner, before, after in ((up, 1, 3), (down, 4, 2), (flat, 2, 2), (none, 1, 1)):
        rep = RepFactory(partner=partner)
        _won(rep, before * 1_000_000, previous[0])
        _won(rep, after * 1_000_000, last[1])
        if partner is not none:
            _total(partner, previous, Decimal(10_000_000))
            _total(partner, last, Decimal(10_000_000))
    movers = share_movers(tenant=in_tenant)
    assert [(t.last.partner_name, round(t.change, 2)) for t in movers["gainers"]] == [("Up", 0.2)]
    assert [(t.last.partner_name, round(t.change, 2)) for t in movers["losers"]] == [("Down", -0.2)]
    assert movers["period"].period_start == last[0]
    assert movers["without_share"] == 1


def test_queries_do_not_grow_with_partners(tenant, other_tenant):
    build_case(tenant)
    with tenant_scope(other_tenant):
        for i in range(12):
            partner = PartnerFactory(tenant=other_tenant, name=f"P{i}")
            _won(RepFactory(partner=partner), 1_000, Q3[0])
            _total(partner, Q3, Decimal(10_000))
    counts = []
    for t in (tenant, other_tenant):
        with tenant_scope(t), CaptureQueriesContext(connection) as ctx:
            share_of_wallet(tenant=t, period_after=Q2[0], period_before=Q3[1])
        counts.append(len(ctx.captured_queries))
    assert counts == [3, 3]


# --- the API -------------------------------------------------------------------------


def _key_client(tenant, scopes):
    _key, raw = TenantAPIKey.objects.create_key(tenant=tenant, name=f"k-{scopes}", scopes=scopes)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def test_api_answers_per_partner_and_period(client, manager, tenant, other_tenant):
    alpha, beta, gamma = build_case(tenant)
    build_case(other_tenant, prefix="Rival ")
    client.force_login(manager)
    response = client.get(URL, {"period_after": "2026-04-01", "period_before": "2026-09-30"})
    assert response.status_code == 200, response.content
    rows = response.json()
    assert len(rows) == 6 and not any("Rival" in r["partner_name"] for r in rows)
    beta_q3 = next(r for r in rows if r["partner"] == beta.pk and r["period_start"] == "2026-07-01")
    assert beta_q3 == {
        "partner": beta.pk,
        "partner_name": "Beta",
        "granularity": "quarter",
        "period_start": "2026-07-01",
        "period_end": "2026-09-30",
        "our_amount": "1000000.00",
        "our_deals": 1,
        "unconverted_deals": 0,
        "partner_total": "5000000.00",
        "total_amount": "20000.00",
        "currency": "USD",
        "total_unconverted": False,
        "partner_deal_count": 10,
        "share": 0.2,
        "deal_share": 0.1,
        "inconsistent": False,
        "source": "reported",
        "competing_products": 3,
        "competing_product_names": [],
        "in_progress": False,
    }
    one = client.get(
        URL.rstrip("/"),
        {"partner": gamma.pk, "period_after": "2026-07-01", "period_before": "2026-09-30"},
    ).json()
    assert [(r["partner_name"], r["share"], r["our_amount"]) for r in one] == [
        ("Gamma", None, "500000.00")
    ]
    months = client.get(
        URL, {"partner": alpha.pk, "granularity": "month", "period_after": "2026-07-01",
              "period_before": "2026-09-30"},
    ).json()  # fmt: skip
    assert [r["period_start"] for r in months] == ["2026-07-01", "2026-08-01", "2026-09-01"]
    assert all(r["share"] is None for r in months)  # Alpha reported quarters only


def test_api_bad_queries_and_other_tenants_partner(client, manager, tenant, other_tenant):
    build_case(tenant)
    rival, *_ = build_case(other_tenant, prefix="Rival ")
    client.force_login(manager)
    assert client.get(URL, {"partner": rival.pk}).status_code == 404
    assert (
        client.get(URL, {"period_after": "2026-09-01", "period_before": "2026-01-01"}).status_code
        == 400
    )
    assert (
        client.get(URL, {"period_after": "2000-01-01", "period_before": "2026-01-01"}).status_code
        == 400
    )
    assert client.get(URL, {"granularity": "year"}).status_code == 400
    assert client.get(URL, {"period_after": "July"}).status_code == 400
    # 119 months, but they meet 41 quarters (2016 Q1 to 2026 Q1): one too many.
    assert (
        client.get(URL, {"period_after": "2016-03-31", "period_before": "2026-01-01"}).status_code
        == 400
    )


def test_api_roles_and_scopes(client, tenant, staff, viewer):
    build_case(tenant)
    for user in (staff, viewer):
        client.force_login(user)
        assert client.get(URL).status_code == 200
    assert _key_client(tenant, "read").get(URL).status_code == 200
    # A write-only key feeds data; it does not read results.
    assert _key_client(tenant, "write").get(URL).status_code == 403
    client.logout()
    assert client.get(URL).status_code in (401, 403)


def test_the_demo_shows_shares_for_the_last_two_quarters(tenant):
    from django.core.management import call_command

    call_command(
        "seed_demo", tenant=tenant.slug, partners=4, reps=60, views=600, deals=600, verbosity=0
    )
    with tenant_scope(tenant):
        last = last_complete_period(tenant)
        previous = period_shift(last[0], "quarter", -1)
        rows = share_of_wallet(tenant=tenant, period_after=previous[0], period_before=last[1])
        with_totals = set(PartnerTotal.objects.values_list("partner_id", flat=True))
        assert PartnerTotal.objects.count() == 6  # every partner but the last, two quarters
    statuses = {}
    for row in rows:
        statuses.setdefault(row.partner_id, []).append(row.status)
    assert len(statuses) == 4
    assert sum(s == ["no_total", "no_total"] for s in statuses.values()) == 1
    assert sum(s.count("share") for s in statuses.values()) >= 4
    assert len(set(statuses) - with_totals) == 1  # the one that reports none
