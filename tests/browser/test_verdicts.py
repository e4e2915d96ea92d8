"""The honest verdicts in a real Chromium: the partial week drawn as such, the cut-off lines
off the axes, and the pages that used to overflow (the rep page's history and badges, the
keymen list at 1024 px) fitting their cards."""

from __future__ import annotations

import pytest
from django.urls import reverse

from pse_crm.roles import Role
from tests.browser.conftest import PASSWORD, log_in
from tests.factories import MembershipFactory, TenantFactory
from tests.web.test_verdict_pages import build

pytestmark = pytest.mark.django_db(transaction=True)

# Whatever sticks out of its card (or makes the page scroll sideways), outside the
# scrolling table wrappers.
OVERFLOWS = """() => {
  const out = [];
  const doc = document.documentElement;
  if (doc.scrollWidth > doc.clientWidth + 1) out.push('page ' + doc.scrollWidth);
  document.querySelectorAll('.card, .kpi, .quad').forEach(card => {
    const box = card.getBoundingClientRect();
    if (card.scrollWidth > card.clientWidth + 1) out.push(card.className + ' scrolls');
    card.querySelectorAll('.badge, .kpi-value').forEach(el => {
      const r = el.getBoundingClientRect();
      if (r.width && (r.right > box.right + 1 || r.left < box.left - 1)) out.push(el.textContent);
    });
  });
  document.querySelectorAll('.table-wrap').forEach(w => {
    if (w.scrollWidth > w.clientWidth + 1) out.push('table ' + w.scrollWidth + ' > ' + w.clientWidth);
  });
  return out;
}"""


@pytest.fixture
def world():
    tenant = TenantFactory(slug="acme", name="Acme Software")
    MembershipFactory(
        tenant=tenant,
        role=Role.MANAGER,
        user__email="manager@acme.example",
        user__password=PASSWORD,
    )
    data = build(tenant)
    data["tenant"] = tenant
    return data


def test_the_rep_page_and_the_keymen_list_fit_at_1400_and_1024(page, world):
    log_in(page, "manager@acme.example")
    rep = world["reps"]["q4"]
    for width in (1400, 1024):
        page.set_viewport_size({"width": width, "height": 900})
        for url in (
            reverse("rep-detail", args=[rep.pk]),
            reverse("keymen"),
            reverse("partner-detail", args=[world["quiet"].pk]),
            reverse("partner-list"),
            reverse("dashboard"),
        ):
            page.goto(url)
            page.wait_for_load_state("networkidle")
            assert page.evaluate(OVERFLOWS) == [], (width, url)
    # The segment history shows its tier column whole.
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(reverse("rep-detail", args=[rep.pk]))
    history = page.locator("[data-testid=segment-history]")
    assert "Middle · 57%" in history.inner_text()


def test_the_rep_chart_marks_this_week_partial(page, world):
    log_in(page, "manager@acme.example")
    page.goto(reverse("rep-detail", args=[world["reps"]["q2"].pk]))
    canvas = page.locator("canvas[data-chart=line][data-rendered='1']")
    canvas.wait_for()
    assert canvas.get_attribute("data-partial") == "1"
    # The last point is drawn hollow, the others filled.
    fills = page.evaluate(
        "(() => { const c = Chart.getChart(document.querySelector('canvas[data-chart=line]'));"
        " const m = c.getDatasetMeta(0).data; return [m[0].options.backgroundColor,"
        " m[m.length - 1].options.backgroundColor]; })()"
    )
    assert fills[1] == "#fff" and fills[0] != "#fff"


def test_the_scatter_draws_no_cut_off_on_an_axis(page, world):
    log_in(page, "manager@acme.example")
    page.locator("canvas#scatter[data-rendered='1']").wait_for()
    # "Any win" on amounts: half-way between zero and the smallest win, above the x axis.
    y_line = page.evaluate(
        "(() => { const c = Chart.getChart(document.querySelector('canvas#scatter'));"
        " const o = c.options.plugins.thresholds; return [o.x, o.y,"
        " c.scales.y.getPixelForValue(o.y), c.chartArea.bottom]; })()"
    )
    x, y, y_pixel, bottom = y_line
    assert x == 9.5  # more than 9 views
    assert y == 1_000_000  # half of the smallest win, 2,000,000
    assert y_pixel < bottom - 2
