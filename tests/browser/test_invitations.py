"""An owner invites two people in a real headless Chromium; one accepts from the emailed
link, in Japanese, and lands in the tenant. PSE_SCREENSHOTS=1 saves the pages to
docs/screenshots/ (members-invitations.png, invite-en.png, invite-ja.png)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.core import mail
from django.urls import reverse

from pse_crm.models import Membership
from pse_crm.roles import Role
from tests.browser.conftest import PASSWORD, log_in
from tests.factories import MembershipFactory, TenantFactory

pytestmark = pytest.mark.django_db(transaction=True)

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
LINK = re.compile(r"https?://[^/\s]+(/invitations/[^/\s]+/)")


def _invite(page, email: str, role: str) -> str:
    page.fill("#id_email", email)
    page.select_option("#id_role", role)
    page.click("button.btn-primary[type=submit]")
    page.locator(f"[data-testid=invitations] td:text-is('{email}')").wait_for()
    return LINK.search(mail.outbox[-1].body).group(1)


def test_invite_and_accept_in_the_browser(page, browser, live_server, tmp_path):
    out = SCREENSHOTS if os.environ.get("PSE_SCREENSHOTS") == "1" else tmp_path
    tenant = TenantFactory(slug="acme", name="Acme Software")
    MembershipFactory(
        tenant=tenant, role=Role.OWNER, user__email="owner@acme.example", user__password=PASSWORD
    )
    log_in(page, "owner@acme.example")
    page.goto(reverse("settings-members"))
    path = _invite(page, "hanako.sato@example.com", Role.STAFF)
    _invite(page, "taro.suzuki@example.com", Role.MANAGER)
    assert page.locator("[data-testid=invitations] tbody tr").count() == 2
    assert page.locator("[data-testid=members] tbody tr").count() == 1  # no one enrolled
    page.screenshot(path=str(out / "members-invitations.png"), full_page=True)

    context = browser.new_context(
        viewport={"width": 1366, "height": 900}, locale="en-US", base_url=live_server.url
    )
    context.set_default_timeout(15_000)
    invitee = context.new_page()
    errors: list[str] = []
    invitee.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        invitee.goto(path)
        card = invitee.locator("[data-testid=invitation]")
        assert "Join Acme Software" in card.inner_text()
        assert "hanako.sato@example.com" in card.inner_text()
        invitee.screenshot(path=str(out / "invite-en.png"), full_page=True)
        invitee.click("[data-testid=lang-ja]")
        invitee.wait_for_load_state("networkidle")
        assert invitee.url.endswith(path)
        assert "Acme Software に参加" in card.inner_text()
        invitee.screenshot(path=str(out / "invite-ja.png"), full_page=True)
        invitee.fill("#id_password1", "a-fine-new-pass-2026")
        invitee.fill("#id_password2", "a-fine-new-pass-2026")
        invitee.click("[data-testid=accept]")
        invitee.wait_for_url(f"{live_server.url}/")
        assert invitee.inner_text("[data-testid=current-user]").startswith(
            "hanako.sato@example.com"
        )
        assert "Acme Software へようこそ。" in invitee.content()
    finally:
        context.close()
    assert not errors, errors
    membership = Membership._base_manager.get(user__email="hanako.sato@example.com")
    assert (membership.tenant, membership.role) == (tenant, Role.STAFF)
    for name in ("members-invitations", "invite-en", "invite-ja"):
        assert (out / f"{name}.png").stat().st_size > 10_000
