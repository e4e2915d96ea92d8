"""The pages pass the content security policy in a real browser (Chromium enforces it).

Every parameterless page, logged in as an owner, and the API docs: no CSP violation is
reported (a blocked script, style, image, frame or connection would be one).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Error as PlaywrightError

from pse_crm.roles import Role
from tests.activities.factories import DealFactory, MaterialViewFactory
from tests.browser.conftest import browser, log_in  # noqa: F401 (fixture)
from tests.factories import MembershipFactory
from tests.hardening.test_security import _parameterless_pages
from tests.partners.factories import PartnerFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SKIP = {"/logout/", "/tenant/switch/", "/health/", "/healthz", "/readyz", "/metrics"}


@pytest.fixture
def csp_context(browser, live_server):  # noqa: F811
    context = browser.new_context(base_url=live_server.url, locale="en-US")
    context.set_default_timeout(15_000)
    context.violations = []
    yield context
    context.close()


def _visit(context, url: str) -> bool:
    """Open ``url`` in a page of its own; True when it rendered an HTML page."""
    page = context.new_page()
    page.on(
        "console",
        lambda msg: (
            context.violations.append(f"{url}: {msg.text}")
            if "Content Security Policy" in msg.text
            else None
        ),
    )
    try:
        response = page.goto(url)
        ok = (
            response is not None
            and response.status == 200
            and "text/html" in (response.headers.get("content-type") or "")
        )
        if ok:
            page.wait_for_load_state("networkidle")
        return ok
    except PlaywrightError:  # a POST-only route answers 405 with no page
        return False
    finally:
        page.close()


def test_pages_raise_no_csp_violation(csp_context, tenant):
    owner = MembershipFactory(tenant=tenant, role=Role.OWNER).user
    partner = PartnerFactory(tenant=tenant)
    deal = DealFactory(tenant=tenant, rep__partner=partner, partner=partner, is_won=True)
    MaterialViewFactory(tenant=tenant, rep=deal.rep, material__tenant=tenant)
    login = csp_context.new_page()
    log_in(login, owner.email, "pw-for-tests")
    login.close()
    pages = {u for u in _parameterless_pages() if not u.startswith("/api/")} - SKIP
    visited = [url for url in [*sorted(pages), "/api/docs/"] if _visit(csp_context, url)]
    assert "/" in visited and "/api/docs/" in visited, visited
    assert len(visited) >= 10, visited
    assert not csp_context.violations, csp_context.violations
