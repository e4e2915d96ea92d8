"""Enrolment needs consent: an owner invites an address, the person joins by accepting.

The defect this replaces: adding an address that had an account in another tenant made it
a member at once (it landed there at its next login, and the inviting owner saw it), and
the form answered differently for known and unknown addresses. Here: the answer is the
same for every address, nothing exists in the tenant but the invitation until the link is
accepted, and the link is signed, single-use, expiring and replaced by a resend.

The invitee's requests run as the application's database role (row-level security on):
the link is opened with no tenant in scope, so the service must enter the right one.
"""

from __future__ import annotations

import datetime as dt
import re
from contextlib import nullcontext

import pytest
from django.contrib.auth import SESSION_KEY as AUTH_SESSION_KEY
from django.core import mail, signing
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from pse_crm.middleware import SESSION_KEY
from pse_crm.models import AuditEvent, Invitation, Membership, User
from pse_crm.roles import Role
from pse_crm.services.invitations import SALT, invitation_accept, invitation_token
from pse_crm.tenancy import tenant_scope
from tests.factories import MembershipFactory, TenantFactory, UserFactory
from tests.hardening.conftest import acting_as_app_role
from tests.hardening.test_security import _assert_passes_csp

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-fine-new-pass-2026"
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')
LINK = re.compile(r"https?://[^/\s]+(/invitations/[^/\s]+/)")


def _app_role():
    """The application's database role where there is one (PostgreSQL)."""
    return acting_as_app_role() if connection.vendor == "postgresql" else nullcontext()


def _invite(owner_client, email: str, role: str = Role.STAFF) -> str:
    """Invite ``email`` on the members page; the path of the link in the email sent."""
    before = len(mail.outbox)
    response = owner_client.post(reverse("settings-members"), {"email": email, "role": role})
    assert response.status_code == 302, response.content.decode()[:500]
    assert len(mail.outbox) == before + 1
    message = mail.outbox[-1]
    assert message.to == [email.lower()]
    return LINK.search(message.body).group(1)


def _invitation(tenant, email: str) -> Invitation:
    with tenant_scope(tenant):
        return Invitation.objects.get(email=email)


def _members(tenant) -> list[str]:
    return sorted(
        Membership._base_manager.filter(tenant=tenant).values_list("user__email", flat=True)
    )


@pytest.fixture
def elsewhere(other_tenant):
    """A person with an account and a membership in another tenant only."""
    return MembershipFactory(
        tenant=other_tenant,
        role=Role.OWNER,
        user__email="pat@rival.example",
        user__first_name="Patricia",
        user__last_name="Hidden",
        user__last_login=timezone.now() - dt.timedelta(days=3),
    ).user


# --- the oracle is gone ----------------------------------------------------------------


def test_the_answer_is_the_same_for_an_account_elsewhere_and_a_new_address(
    owner_client, tenant, other_tenant
):
    """The same address, once without an account and once with one in another tenant:
    the redirect, the page after it and the email are byte for byte the same (apart
    from the CSRF token), and neither makes a member."""
    email = "pat@rival.example"

    def invite():
        response = owner_client.post(
            reverse("settings-members"), {"email": email, "role": "staff"}, follow=True
        )
        body = CSRF.sub("CSRF", response.content.decode())
        return response.redirect_chain, response.status_code, body, mail.outbox[-1].body

    savepoint = transaction.savepoint()
    new_address = invite()
    assert not User.objects.filter(email=email).exists()
    first_id = _invitation(tenant, email).pk
    transaction.savepoint_rollback(savepoint)
    # The invitation's id is the same number either way (a rollback keeps the sequence).
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence(%s, 'id'), %s, false)",
            [Invitation._meta.db_table, first_id],
        )
    MembershipFactory(
        tenant=other_tenant, user__email=email, user__first_name="Patricia", role=Role.OWNER
    )
    known_elsewhere = invite()

    assert known_elsewhere == new_address
    chain, status, html, _email = known_elsewhere
    assert chain == [(reverse("settings-members"), 302)] and status == 200
    assert f"Invitation sent to {email}." in html
    assert "Patricia" not in html
    assert email not in _members(tenant)


def test_an_account_elsewhere_is_not_enrolled_nor_shown(
    owner_client, tenant, other_tenant, elsewhere
):
    """The defect itself: before, the address was a member at once and its name, last
    login and join date were the owner's to read."""
    _invite(owner_client, elsewhere.email)
    assert elsewhere.email not in _members(tenant)
    html = owner_client.get(reverse("settings-members")).content.decode()
    invitations = html[html.index('data-testid="invitations"') :]
    assert elsewhere.email in invitations and "Pending" in invitations
    assert "Patricia" not in html and "Hidden" not in html
    # Nor in the admin, where an owner reads a member's name, last login and join date.
    owner = Membership._base_manager.get(tenant=tenant, role=Role.OWNER).user
    owner.is_staff = True
    owner.save(update_fields=["is_staff"])
    admin_page = owner_client.get(reverse("admin:pse_crm_user_change", args=[elsewhere.pk]))
    assert admin_page.status_code != 200 and "Patricia" not in admin_page.content.decode()
    # Their next login still lands in their own tenant: they are in no other.
    client = Client()
    client.post(reverse("login"), {"username": elsewhere.email, "password": "pw-for-tests"})
    assert client.get(reverse("dashboard")).context["active_tenant"] == other_tenant


def test_the_form_asks_no_password(owner_client):
    html = owner_client.get(reverse("settings-members")).content.decode()
    form = html[html.index("Invite a member") :]
    assert 'name="email"' in form and 'name="role"' in form
    assert 'type="password"' not in form


# --- accepting --------------------------------------------------------------------------


def test_a_new_person_sets_a_password_and_joins_with_the_invited_role(
    owner_client, tenant, other_tenant, client
):
    MembershipFactory(tenant=other_tenant, role=Role.OWNER)
    path = _invite(owner_client, "New.Person@Example.com", role=Role.MANAGER)
    invitee = Client()
    with _app_role():
        page = invitee.get(path)
        html = page.content.decode()
        assert page.status_code == 200
        assert tenant.name in html and "Manager" in html and 'name="password1"' in html
        _assert_passes_csp(path, page)
        # Django's password validators apply.
        weak = invitee.post(path, {"password1": "12345678", "password2": "12345678"})
        assert weak.status_code == 200 and "This password is entirely numeric." in (
            weak.content.decode()
        )
        assert not User.objects.filter(email="new.person@example.com").exists()
        joined = invitee.post(path, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
        assert joined.status_code == 302 and joined["Location"] == reverse("dashboard")
        dashboard = invitee.get(reverse("dashboard"))
    user = User.objects.get(email="new.person@example.com")
    assert user.check_password(NEW_PASSWORD)
    assert invitee.session[AUTH_SESSION_KEY] == str(user.pk)
    assert dashboard.status_code == 200 and dashboard.context["active_tenant"] == tenant
    membership = Membership._base_manager.get(user=user)
    assert (membership.tenant, membership.role, membership.is_active) == (
        tenant,
        Role.MANAGER,
        True,
    )
    assert _invitation(tenant, "new.person@example.com").accepted_at is not None
    assert _members(other_tenant) != [] and user.email not in _members(other_tenant)


def test_an_existing_account_logs_in_first_and_comes_back(
    owner_client, tenant, other_tenant, elsewhere
):
    path = _invite(owner_client, elsewhere.email, role=Role.VIEWER)
    invitee = Client()
    with _app_role():
        sent = invitee.get(path)
        assert sent.status_code == 302
        login_url = sent["Location"]
        assert login_url.startswith(reverse("login") + "?next=")
        back = invitee.post(
            login_url,
            {"username": elsewhere.email, "password": "pw-for-tests", "next": path},
        )
        assert back["Location"] == path
        confirm = invitee.get(path)
        assert confirm.status_code == 200 and tenant.name in confirm.content.decode()
        assert 'name="password1"' not in confirm.content.decode()
        # Looking is not accepting.
        assert elsewhere.email not in _members(tenant)
        joined = invitee.post(path)
        assert joined.status_code == 302
        assert invitee.get(reverse("dashboard")).context["active_tenant"] == tenant
    elsewhere.refresh_from_db()
    assert elsewhere.check_password("pw-for-tests")  # their own password, untouched
    membership = Membership._base_manager.get(user=elsewhere, tenant=tenant)
    assert membership.role == Role.VIEWER
    assert Membership._base_manager.get(user=elsewhere, tenant=other_tenant).role == Role.OWNER


def test_the_link_works_once(owner_client, tenant):
    path = _invite(owner_client, "once@example.com")
    invitee = Client()
    with _app_role():
        invitee.post(path, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
        again = Client().get(path)
        assert again.status_code == 410
        assert "This invitation has already been used." in again.content.decode()
        # The invitee, logged in, posting it again: still one membership.
        assert invitee.post(path).status_code == 410
    assert _members(tenant).count("once@example.com") == 1


def test_the_link_expires_at_its_edge(owner_client, tenant, monkeypatch):
    path = _invite(owner_client, "late@example.com")
    expires_at = _invitation(tenant, "late@example.com").expires_at
    assert expires_at - timezone.now() > dt.timedelta(days=6, hours=23)  # INVITATION_DAYS

    def at(moment):
        monkeypatch.setattr(timezone, "now", lambda: moment)

    at(expires_at - dt.timedelta(seconds=1))
    assert Client().get(path).status_code == 200
    at(expires_at)
    expired = Client().get(path)
    assert expired.status_code == 410 and "This invitation has expired." in expired.content.decode()
    refused = Client().post(path, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert refused.status_code == 410
    assert not User.objects.filter(email="late@example.com").exists()
    # The owner sees it expired and may send it again.
    html = owner_client.get(reverse("settings-members")).content.decode()
    assert 'data-state="expired"' in html


def test_a_revoked_link_answers_withdrawn(owner_client, tenant):
    path = _invite(owner_client, "gone@example.com")
    invitation = _invitation(tenant, "gone@example.com")
    response = owner_client.post(reverse("settings-invitation-revoke", args=[invitation.pk]))
    assert response.status_code == 302
    page = Client().get(path)
    assert page.status_code == 410 and "This invitation was withdrawn." in page.content.decode()
    assert (
        Client().post(path, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}).status_code
        == 410
    )
    assert not User.objects.filter(email="gone@example.com").exists()
    html = owner_client.get(reverse("settings-members")).content.decode()
    assert 'data-testid="invitations"' not in html  # no longer pending
    assert "No pending invitations." in html


def test_resend_kills_the_old_link(owner_client, tenant):
    old = _invite(owner_client, "twice@example.com")
    invitation = _invitation(tenant, "twice@example.com")
    owner_client.post(reverse("settings-invitation-resend", args=[invitation.pk]))
    new = LINK.search(mail.outbox[-1].body).group(1)
    assert new != old
    dead = Client().get(old)
    assert dead.status_code == 404 and "not valid" in dead.content.decode()
    assert (
        Client().post(old, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}).status_code
        == 404
    )
    assert not User.objects.filter(email="twice@example.com").exists()
    assert Client().get(new).status_code == 200


def test_inviting_an_open_address_again_resends_with_the_new_role(owner_client, tenant):
    old = _invite(owner_client, "again@example.com", role=Role.STAFF)
    new = _invite(owner_client, "again@example.com", role=Role.MANAGER)
    assert Client().get(old).status_code == 404
    with tenant_scope(tenant):
        (invitation,) = Invitation.objects.filter(email="again@example.com")
    assert invitation.role == Role.MANAGER and "Manager" in Client().get(new).content.decode()


def test_a_token_for_one_tenant_is_no_use_in_another(owner_client, tenant, other_tenant):
    path = _invite(owner_client, "moved@example.com")
    invitation = _invitation(tenant, "moved@example.com")
    signer = signing.Signer(salt=SALT)
    # Properly signed (as if by us) but naming the other tenant: no such invitation there.
    forged = signer.sign_object([other_tenant.pk, invitation.pk, invitation.send_count])
    # The payload edited without the key: the signature fails.
    _payload, _, signature = invitation_token(invitation=invitation).rpartition(":")
    edited_payload = signing.b64_encode(f"[{other_tenant.pk},{invitation.pk},1]".encode()).decode()
    tampered = f"{edited_payload}:{signature}"
    for token in (forged, tampered, "nonsense"):
        url = reverse("invitation-accept", args=[token])
        with _app_role():
            assert Client().get(url).status_code == 404
            response = Client().post(url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
        assert response.status_code == 404
    assert not User.objects.filter(email="moved@example.com").exists()
    assert "moved@example.com" not in _members(tenant) + _members(other_tenant)
    assert Client().get(path).status_code == 200  # the real link still works


def test_the_service_refuses_a_used_link_itself(owner_client, tenant, elsewhere):
    """Two tabs posting at once both pass the page's look at the state; the service
    checks again under the row lock, so the second makes nothing."""
    path = _invite(owner_client, elsewhere.email)
    token = path.split("/")[2]
    with _app_role():
        invitation_accept(token=token, user=elsewhere)
        with pytest.raises(ValidationError) as caught:
            invitation_accept(token=token, user=elsewhere)
    assert caught.value.code == "accepted"
    assert _members(tenant).count(elsewhere.email) == 1


def test_a_different_logged_in_user_is_told_it_is_for_another_address(
    owner_client, tenant, other_manager
):
    path = _invite(owner_client, "someone@example.com")
    intruder = Client()
    intruder.force_login(other_manager)
    with _app_role():
        page = intruder.get(path)
        html = page.content.decode()
        assert page.status_code == 403
        assert "This invitation is for another address" in html
        assert tenant.name not in html and "someone@example.com" not in html
        assert intruder.post(path).status_code == 403
    assert other_manager.email not in _members(tenant)
    assert _invitation(tenant, "someone@example.com").accepted_at is None


# --- who may invite, and where it shows --------------------------------------------------


def test_only_owners_invite_resend_or_revoke(manager, viewer, tenant, owner):
    with tenant_scope(tenant):
        invitation = Invitation.objects.create(
            tenant=tenant,
            email="x@example.com",
            invited_by=owner,
            expires_at=timezone.now() + dt.timedelta(days=1),
        )
    for user in (manager, viewer):
        c = Client()
        c.force_login(user)
        assert (
            c.post(reverse("settings-members"), {"email": "y@example.com", "role": "owner"})
        ).status_code == 403
        for name in ("settings-invitation-resend", "settings-invitation-revoke"):
            assert c.post(reverse(name, args=[invitation.pk])).status_code == 403
    assert mail.outbox == []
    with tenant_scope(tenant):
        assert list(Invitation.objects.values_list("email", "send_count", "revoked_at")) == [
            ("x@example.com", 1, None)
        ]


def test_another_tenants_invitations_are_neither_listed_nor_touched(
    owner_client, tenant, other_tenant
):
    rival_owner = MembershipFactory(tenant=other_tenant, role=Role.OWNER).user
    with tenant_scope(other_tenant):
        theirs = Invitation.objects.create(
            tenant=other_tenant,
            email="theirs@example.com",
            invited_by=rival_owner,
            expires_at=timezone.now() + dt.timedelta(days=1),
        )
    _invite(owner_client, "ours@example.com")
    html = owner_client.get(reverse("settings-members")).content.decode()
    assert "ours@example.com" in html and "theirs@example.com" not in html
    for name in ("settings-invitation-resend", "settings-invitation-revoke"):
        assert owner_client.post(reverse(name, args=[theirs.pk])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None and theirs.send_count == 1


def test_a_member_of_this_tenant_is_refused_next_to_the_email(owner_client, staff):
    html = owner_client.post(
        reverse("settings-members"), {"email": staff.email.upper(), "role": "owner"}
    ).content.decode()
    field = html[html.index('name="email"') :]
    assert field.index("This person is already a member.") < field.index("</div>")
    assert mail.outbox == []


def test_created_accepted_and_revoked_are_in_the_audit_trail(owner_client, tenant, owner):
    path = _invite(owner_client, "audited@example.com")
    Client().post(path, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    _invite(owner_client, "withdrawn@example.com")
    revoked = _invitation(tenant, "withdrawn@example.com")
    owner_client.post(reverse("settings-invitation-revoke", args=[revoked.pk]))
    with tenant_scope(tenant):
        events = list(
            AuditEvent.objects.filter(model_label="pse_crm.Invitation")
            .order_by("pk")
            .values_list("action", "object_repr", "actor_label")
        )
        changes = [
            sorted(e.changes)
            for e in AuditEvent.objects.filter(model_label="pse_crm.Invitation", action="update")
        ]
    assert [(a, r.split(" ")[0]) for a, r, _who in events] == [
        ("create", "audited@example.com"),
        ("update", "audited@example.com"),
        ("create", "withdrawn@example.com"),
        ("update", "withdrawn@example.com"),
    ]
    assert events[0][2] == owner.email
    assert sorted(changes) == [["accepted_at"], ["revoked_at"]]
    html = owner_client.get(reverse("settings-audit")).content.decode()
    assert "audited@example.com" in html


def test_create_user_still_adds_directly(tenant):
    call_command("create_user", tenant="acme", email="ops@example.com", role="staff")
    assert _members(tenant) == ["ops@example.com"]
    with tenant_scope(tenant):
        assert not Invitation.objects.exists()
    assert mail.outbox == []


def test_the_invitation_page_is_translated(owner_client, tenant):
    path = _invite(owner_client, "ja@example.com")
    html = Client(HTTP_ACCEPT_LANGUAGE="ja").get(path).content.decode()
    assert "新しいアカウントのパスワードを決めてください。" in html


# --- the tenant used last ----------------------------------------------------------------


def test_login_lands_in_the_tenant_used_last_not_the_first_by_name(tenant):
    zebra = TenantFactory(slug="zebra", name="Zebra Works")  # after "Acme Software"
    user = UserFactory(email="two@example.com")
    MembershipFactory(tenant=tenant, user=user, role=Role.STAFF)
    MembershipFactory(tenant=zebra, user=user, role=Role.STAFF)

    def log_in() -> Client:
        c = Client()
        c.post(reverse("login"), {"username": user.email, "password": "pw-for-tests"})
        return c

    first = log_in()
    assert first.get(reverse("dashboard")).context["active_tenant"] == tenant  # none used yet
    first.post(reverse("switch-tenant"), {"tenant": zebra.pk, "next": "/"})
    assert first.get(reverse("dashboard")).context["active_tenant"] == zebra
    first.post(reverse("logout"))
    again = log_in()
    assert again.get(reverse("dashboard")).context["active_tenant"] == zebra
    assert again.session[SESSION_KEY] == zebra.pk
    # And back: the switch is recorded again.
    again.post(reverse("switch-tenant"), {"tenant": tenant.pk, "next": "/"})
    again.get(reverse("dashboard"))
    assert log_in().get(reverse("dashboard")).context["active_tenant"] == tenant


# --- the database wall ---------------------------------------------------------------------


def test_invitations_sit_behind_row_level_security(tenant, other_tenant, owner):
    if connection.vendor != "postgresql":
        pytest.skip("row-level security is PostgreSQL-only")
    for t in (tenant, other_tenant):
        with tenant_scope(t):
            Invitation.objects.create(
                tenant=t, email=f"i@{t.slug}.example", expires_at=timezone.now()
            )
    with acting_as_app_role():
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pse_crm_invitation")
            assert cursor.fetchone() == (0,)
        with tenant_scope(tenant):
            assert list(Invitation._base_manager.values_list("email", flat=True)) == [
                "i@acme.example"
            ]


def test_accepting_lets_a_member_deactivated_meanwhile_back_in(owner_client, tenant, elsewhere):
    """Added by an operator and deactivated after the invitation went out: accepting it
    makes the membership active again, with the invited role, instead of a dead welcome."""
    path = _invite(owner_client, elsewhere.email, role=Role.MANAGER)
    token = path.split("/")[2]
    with tenant_scope(tenant):
        Membership.objects.create(tenant=tenant, user=elsewhere, role=Role.VIEWER, is_active=False)
    with _app_role():
        membership = invitation_accept(token=token, user=elsewhere)
    assert membership.is_active and membership.role == Role.MANAGER
    with tenant_scope(tenant):
        assert Membership.objects.get(tenant=tenant, user=elsewhere).is_active
