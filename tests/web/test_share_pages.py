"""Share of wallet on the pages: the partner page (line, table, entering a total), the
partner list (a column with its trend), the dashboard (movers), the CSV import page;
roles, tenants and flat query counts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from partners.models import PartnerTotal
from partners.periods import period_shift
from pse_crm.roles import Role
from pse_crm.tenancy import tenant_scope
from tests.activities.factories import DealFactory
from tests.factories import MembershipFactory
from tests.partners.factories import PartnerFactory
from tests.reps.factories import RepFactory
from web.share_of_wallet import last_complete_period

pytestmark = pytest.mark.django_db


def _periods(tenant):
    last = last_complete_period(tenant)
    return period_shift(last[0], "quarter", -1), last


def world(tenant, *, prefix: str, partners: int = 3) -> list:
    """``partners`` partners: the first gains share (20% → 40%), the second's last total is
    below our wins (inconsistent), the others report nothing."""
    previous, last = _periods(tenant)
    out = []
    with tenant_scope(tenant):
        for i in range(partners):
            partner = PartnerFactory(tenant=tenant, name=f"{prefix} Partner {i}")
            rep = RepFactory(partner=partner)
            for period, amount in ((previous, 2_000_000), (last, 4_000_000)):
                DealFactory(
                    rep=rep, amount=amount, is_closed=True, is_won=True, close_date=period[1]
                )
            if i < 2:
                for period, total in ((previous, 10_000_000), (last, 10_000_000 if i == 0 else 1)):
                    PartnerTotal.objects.create(
                        tenant=tenant,
                        partner=partner,
                        granularity="quarter",
                        period_start=period[0],
                        period_end=period[1],
                        total_amount=Decimal(total),
                        currency="JPY",
                        competing_products=4,
                    )
            out.append(partner)
    return out


@pytest.fixture
def rival(other_tenant):
    return world(other_tenant, prefix="Rival")


def test_partner_page_shows_the_share_and_says_when_there_is_none(manager_client, tenant, rival):
    gainer, inconsistent, silent = world(tenant, prefix="Acme")
    body = manager_client.get(reverse("partner-detail", args=[gainer.pk])).content.decode()
    assert 'data-testid="share-of-wallet"' in body and "Rival" not in body
    assert "40.0%" in body and "20.0%" in body
    assert reverse("chart-partner-share", args=[gainer.pk]) in body
    assert 'data-testid="enter-total"' in body
    body = manager_client.get(reverse("partner-detail", args=[inconsistent.pk])).content.decode()
    assert 'data-testid="inconsistent"' in body
    assert "400,000,000.0%" not in body and "400.0%" not in body
    body = manager_client.get(reverse("partner-detail", args=[silent.pk])).content.decode()
    assert "no total reported" in body
    assert "0.0%" not in body


def test_share_chart_has_gaps_never_zero(manager_client, tenant):
    gainer, inconsistent, silent = world(tenant, prefix="Acme")
    data = manager_client.get(reverse("chart-partner-share", args=[gainer.pk])).json()
    assert len(data["labels"]) == 8
    assert data["datasets"][0]["data"][-3:] == [20.0, 40.0, None]  # the current one: no total
    assert data["partial"][-1] is True and not any(data["partial"][:-1])
    for partner in (inconsistent, silent):
        data = manager_client.get(reverse("chart-partner-share", args=[partner.pk])).json()
        assert 0 not in data["datasets"][0]["data"]
    assert data["datasets"][0]["data"].count(None) == 8


def test_partner_list_has_the_share_column_with_its_trend(manager_client, tenant, rival):
    world(tenant, prefix="Acme")
    body = manager_client.get(reverse("partner-list")).content.decode()
    assert "Share of wallet" in body and "Rival" not in body
    assert "40.0% ↗" in body
    assert "inconsistent" in body and "no total reported" in body


def test_dashboard_lists_gainers_and_losers(manager_client, tenant, rival):
    previous, last = _periods(tenant)
    partners = world(tenant, prefix="Acme")
    with tenant_scope(tenant):
        # The third partner loses: 40% → 20%.
        for period, total in ((previous, 5_000_000), (last, 20_000_000)):
            PartnerTotal.objects.create(
                tenant=tenant,
                partner=partners[2],
                granularity="quarter",
                period_start=period[0],
                period_end=period[1],
                total_amount=Decimal(total),
                currency="JPY",
            )
    body = manager_client.get(reverse("dashboard")).content.decode()
    assert 'data-testid="share-movers"' in body and "Rival" not in body
    gainers, losers = body.split("Losers")
    assert "Acme Partner 0" in gainers and "+20.0 pt" in gainers
    assert "Acme Partner 2" in losers and "-20.0 pt" in losers
    assert "1 partner has no share in one of the two quarters" in body


def test_a_manager_enters_a_total_and_sees_errors_by_the_field(manager_client, tenant):
    _gainer, _inconsistent, silent = world(tenant, prefix="Acme")
    _previous, last = _periods(tenant)
    url = reverse("partner-total-edit", args=[silent.pk])
    period = f"quarter:{last[0].isoformat()}"
    form = manager_client.get(url, {"period": period}).content.decode()
    assert 'data-testid="total-form"' in form
    response = manager_client.post(
        url, {"period": period, "total_amount": "-5", "currency": "", "source": "reported"}
    )
    assert response.status_code == 200 and "has-error" in response.content.decode()
    response = manager_client.post(
        url, {"period": period, "total_amount": "100", "currency": "XYZ", "source": "reported"}
    )
    assert "XYZ has no conversion rate" in response.content.decode()
    with tenant_scope(tenant):
        assert not PartnerTotal.objects.filter(partner=silent).exists()
    response = manager_client.post(
        url,
        {
            "period": period,
            "total_amount": "16000000",
            "currency": "",
            "competing_product_names": "A; B",
            "source": "estimated",
            "note": "from the QBR",
        },
    )
    assert response.status_code == 302
    with tenant_scope(tenant):
        total = PartnerTotal.objects.get(partner=silent)
    assert (total.period_start, total.period_end, total.granularity) == (*last, "quarter")
    assert (total.total_amount, total.currency, total.competing_products) == (
        Decimal(16_000_000),
        "JPY",
        2,
    )
    body = manager_client.get(reverse("partner-detail", args=[silent.pk])).content.decode()
    assert "25.0%" in body  # 4,000,000 of 16,000,000
    # The form of a stored period starts from its values.
    assert "from the QBR" in manager_client.get(url, {"period": period}).content.decode()


def test_staff_and_viewers_read_but_do_not_enter(client, tenant, staff, viewer):
    gainer, *_ = world(tenant, prefix="Acme")
    for user in (staff, viewer):
        client.force_login(user)
        body = client.get(reverse("partner-detail", args=[gainer.pk])).content.decode()
        assert "40.0%" in body and 'data-testid="enter-total"' not in body
        assert client.get(reverse("partner-total-edit", args=[gainer.pk])).status_code == 403
        assert client.get(reverse("partner-totals-import")).status_code == 403


def test_another_tenants_partner_is_404(manager_client, tenant, rival):
    world(tenant, prefix="Acme")
    for name in ("partner-total-edit", "chart-partner-share", "partner-detail"):
        assert manager_client.get(reverse(name, args=[rival[0].pk])).status_code == 404
    response = manager_client.post(
        reverse("partner-total-edit", args=[rival[0].pk]), {"period": "x"}
    )
    assert response.status_code == 404


HEADER = "partner,period_start,period_end,total_amount,currency,source,note\n"


def test_import_page_all_or_nothing_with_lines(manager_client, tenant):
    world(tenant, prefix="Acme")
    url = reverse("partner-totals-import")
    assert manager_client.get(url).status_code == 200
    bad = (
        HEADER + "Acme Partner 2,2026-01-01,2026-03-31,5,JPY,,\nNobody,2026-01-01,2026-03-31,5,,,\n"
    )
    response = manager_client.post(
        url, {"file": SimpleUploadedFile("t.csv", bad.encode("cp932"), "text/csv")}
    )
    body = response.content.decode()
    assert 'data-testid="import-errors"' in body and "No partner Nobody" in body
    assert '<td class="num">3</td>' in body
    with tenant_scope(tenant):
        assert not PartnerTotal.objects.filter(period_start=dt.date(2026, 1, 1)).exists()
    good = HEADER + "Acme Partner 2,2026-01-01,2026-03-31,5,JPY,estimated,推定\n"
    response = manager_client.post(
        url, {"file": SimpleUploadedFile("t.csv", good.encode("cp932"), "text/csv")}, follow=True
    )
    assert "Imported: 1 new" in response.content.decode()
    with tenant_scope(tenant):
        assert PartnerTotal.objects.get(period_start=dt.date(2026, 1, 1)).note == "推定"


def test_query_counts_do_not_grow_with_partners(client, tenant, manager, other_tenant):
    small = world(tenant, prefix="Small", partners=3)
    big_manager = MembershipFactory(tenant=other_tenant, role=Role.MANAGER).user
    big = world(other_tenant, prefix="Big", partners=12)
    counts = {}
    for name, partners, user in (("small", small, manager), ("big", big, big_manager)):
        client.force_login(user)
        urls = [
            reverse("dashboard"),
            reverse("partner-list"),
            reverse("partner-detail", args=[partners[0].pk]),
            reverse("chart-partner-share", args=[partners[0].pk]),
        ]
        for i, url in enumerate(urls):
            with CaptureQueriesContext(connection) as ctx:
                assert client.get(url).status_code == 200, url
            counts[(name, i)] = len(ctx.captured_queries)
    for i in range(4):
        assert counts[("big", i)] <= counts[("small", i)], (i, counts)


def test_a_period_that_is_not_a_date_opens_an_empty_form(manager_client, tenant):
    partner, *_ = world(tenant, prefix="Acme")
    url = reverse("partner-total-edit", args=[partner.pk])
    assert manager_client.get(url, {"period": "quarter:garbage"}).status_code == 200
