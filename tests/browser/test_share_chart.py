"""The partner page's share-of-wallet line in a real Chromium (Chart.js 4 under the CSP):
a quarter with a share is a point in percent, a quarter without one is a gap, never 0."""

from __future__ import annotations

import pytest
from django.urls import reverse

from pse_crm.roles import Role
from tests.browser.conftest import PASSWORD, log_in
from tests.factories import MembershipFactory, TenantFactory
from tests.web.test_share_pages import world

pytestmark = pytest.mark.django_db(transaction=True)


def test_partner_page_draws_the_share_line_with_gaps(page):
    tenant = TenantFactory(slug="acme", name="Acme Software")
    MembershipFactory(
        tenant=tenant,
        role=Role.MANAGER,
        user__email="manager@acme.example",
        user__password=PASSWORD,
    )
    rival = TenantFactory(slug="rival", name="Rival Systems")
    world(rival, prefix="Rival")
    gainer, _inconsistent, silent = world(tenant, prefix="Acme")
    log_in(page, "manager@acme.example")

    page.goto(reverse("partner-detail", args=[gainer.pk]))
    canvas = page.locator("canvas[data-testid=share-chart][data-rendered='1']")
    canvas.wait_for()
    assert canvas.get_attribute("data-points") == "8"
    assert canvas.get_attribute("data-partial") == "1"  # the quarter in progress
    data = page.evaluate(
        "Chart.getChart(document.querySelector('canvas[data-testid=share-chart]'))"
        ".data.datasets[0].data"
    )
    assert data[-3:] == [20, 40, None]
    assert "Rival" not in page.content()
    rows = page.locator("[data-testid=share-row]")
    assert rows.count() == 8
    assert "40.0%" in rows.nth(1).inner_text()

    page.goto(reverse("partner-detail", args=[silent.pk]))
    page.locator("canvas[data-testid=share-chart][data-rendered='1']").wait_for()
    data = page.evaluate(
        "Chart.getChart(document.querySelector('canvas[data-testid=share-chart]'))"
        ".data.datasets[0].data"
    )
    assert data == [None] * 8
    assert page.locator("[data-testid=no-total]").count() == 8
