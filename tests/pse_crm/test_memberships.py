"""Membership rules, kept once in pse_crm.services.memberships: the services themselves,
then the last-owner rule through each caller (settings page, admin, create_user), then two
owners demoting each other at the same moment on two real connections."""

from __future__ import annotations

import threading

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import transaction
from django.urls import reverse
from django.utils import translation

from pse_crm.models import Membership, User
from pse_crm.roles import Role
from pse_crm.services.memberships import (
    membership_add,
    membership_deactivate,
    membership_delete,
    membership_role_change,
)
from pse_crm.tenancy import all_tenants, tenant_scope
from tests.factories import MembershipFactory, UserFactory
from tests.helpers import on_another_connection

LAST_OWNER = "A tenant needs at least one active owner."


def _owners(tenant) -> list[str]:
    return sorted(
        Membership._base_manager.filter(tenant=tenant, role=Role.OWNER, is_active=True).values_list(
            "user__email", flat=True
        )
    )


def _member(tenant, role=Role.OWNER, **user):
    return MembershipFactory(tenant=tenant, role=role, **{f"user__{k}": v for k, v in user.items()})


# --- the services ---------------------------------------------------------------------


@pytest.mark.django_db
def test_add_creates_a_new_account_with_the_initial_password(in_tenant):
    membership = membership_add(
        tenant=in_tenant, email=" New@Acme.example ", role=Role.MANAGER, password="first-pass-1"
    )
    user = User.objects.get(email="new@acme.example")
    assert membership.user == user and membership.role == Role.MANAGER and membership.is_active
    assert user.check_password("first-pass-1")


@pytest.mark.django_db
def test_add_may_add_an_inactive_member(in_tenant):
    membership = membership_add(
        tenant=in_tenant, email="later@acme.example", role=Role.STAFF, is_active=False
    )
    membership.refresh_from_db()
    assert not membership.is_active
    assert not membership.user.has_usable_password()  # no password given: none usable


@pytest.mark.django_db
def test_add_keeps_an_existing_accounts_password(in_tenant, other_manager):
    membership = membership_add(
        tenant=in_tenant, email=other_manager.email.upper(), role=Role.STAFF, password="other"
    )
    other_manager.refresh_from_db()
    assert membership.user == other_manager
    assert other_manager.check_password("pw-for-tests") and not other_manager.check_password(
        "other"
    )


@pytest.mark.django_db
def test_add_refuses_a_member_twice_even_an_inactive_one(in_tenant):
    existing = _member(in_tenant, Role.STAFF, email="a@acme.example")
    existing.is_active = False
    existing.save()
    with pytest.raises(ValidationError) as caught:
        membership_add(tenant=in_tenant, email="A@acme.example", role=Role.OWNER, password="x")
    assert caught.value.message_dict == {"email": ["This person is already a member."]}
    existing.refresh_from_db()
    assert existing.role == Role.STAFF and not existing.is_active


@pytest.mark.django_db
def test_add_refuses_an_unknown_role(in_tenant):
    with pytest.raises(ValidationError) as caught:
        membership_add(tenant=in_tenant, email="b@acme.example", role="boss", password="x")
    assert "role" in caught.value.message_dict
    assert not User.objects.filter(email="b@acme.example").exists()


@pytest.mark.django_db
def test_the_last_owner_is_neither_demoted_deactivated_nor_deleted(in_tenant, other_tenant):
    only = _member(in_tenant)
    _member(other_tenant)  # another tenant's owner does not count
    staff = _member(in_tenant, Role.STAFF)
    for change in (
        lambda: membership_role_change(membership=only, role=Role.MANAGER),
        lambda: membership_role_change(membership=only, role=Role.OWNER, is_active=False),
        lambda: membership_deactivate(membership=only),
        lambda: membership_delete(membership=only),
    ):
        with pytest.raises(ValidationError) as caught:
            change()
        assert caught.value.code == "last_owner" and caught.value.messages == [LAST_OWNER]
    only.refresh_from_db()
    assert only.role == Role.OWNER and only.is_active
    # Other members are changed freely.
    membership_deactivate(membership=staff)
    staff.refresh_from_db()
    assert staff.role == Role.STAFF and not staff.is_active
    membership_delete(membership=staff)
    assert not Membership.objects.filter(pk=staff.pk).exists()


@pytest.mark.django_db
def test_an_inactive_owner_does_not_count(in_tenant):
    active = _member(in_tenant)
    inactive = _member(in_tenant)
    membership_deactivate(membership=inactive)
    with pytest.raises(ValidationError):
        membership_role_change(membership=active, role=Role.VIEWER)
    # Reactivating the other owner makes room to demote the first.
    membership_role_change(membership=inactive, role=Role.OWNER, is_active=True)
    membership_role_change(membership=active, role=Role.VIEWER)
    assert _owners(in_tenant) == [inactive.user.email]


@pytest.mark.django_db
def test_with_a_second_owner_one_may_go(in_tenant):
    one, two = _member(in_tenant), _member(in_tenant)
    membership_delete(membership=one)
    assert _owners(in_tenant) == [two.user.email]


@pytest.mark.django_db
def test_the_rule_reads_the_stored_row_not_the_callers_instance(in_tenant):
    """The admin hands over an instance already carrying the new values."""
    only = _member(in_tenant)
    only.role = Role.STAFF  # what an admin form has put on it, not saved
    with pytest.raises(ValidationError):
        membership_role_change(membership=only, role=Role.STAFF)
    assert _owners(in_tenant) == [only.user.email]


@pytest.mark.django_db
def test_across_tenants_only_the_memberships_tenant_counts(tenant, other_tenant):
    """The superuser's admin runs with the tenant wall lifted: owners elsewhere must not
    be counted as this tenant's."""
    only = _member(tenant)
    _member(other_tenant)
    with all_tenants(), pytest.raises(ValidationError):
        membership_deactivate(membership=only)
    assert _owners(tenant) == [only.user.email]


@pytest.mark.django_db
def test_the_message_is_translated(in_tenant):
    only = _member(in_tenant)
    with translation.override("ja"), pytest.raises(ValidationError) as caught:
        membership_delete(membership=only)
    assert caught.value.messages == ["テナントには有効なオーナーが 1 人以上必要です。"]


# --- the settings page ----------------------------------------------------------------


@pytest.mark.django_db
def test_page_refuses_to_deactivate_the_last_owner_and_says_why(owner_client, owner, tenant):
    mine = Membership._base_manager.get(user=owner)
    response = owner_client.post(
        reverse("settings-member-update", args=[mine.pk]), {"role": "owner"}, follow=True
    )
    assert LAST_OWNER in response.content.decode()
    mine.refresh_from_db()
    assert mine.is_active and mine.role == Role.OWNER


@pytest.mark.django_db
def test_page_lets_an_owner_step_down_when_another_remains(owner_client, owner, tenant):
    other = _member(tenant)
    mine = Membership._base_manager.get(user=owner)
    owner_client.post(
        reverse("settings-member-update", args=[mine.pk]), {"role": "manager", "is_active": "on"}
    )
    assert _owners(tenant) == [other.user.email]


@pytest.mark.django_db
def test_page_shows_already_a_member_next_to_the_email(owner_client, owner):
    html = owner_client.post(
        reverse("settings-members"),
        {"email": owner.email.upper(), "role": "viewer", "password": "whatever-1"},
    ).content.decode()
    field = html[html.index('name="email"') :]
    assert field.index("This person is already a member.") < field.index("</div>")
    assert Membership._base_manager.get(user=owner).role == Role.OWNER


# --- the admin ------------------------------------------------------------------------


@pytest.fixture
def owner_admin(client, tenant):
    membership = _member(tenant, Role.OWNER, is_staff=True)
    client.force_login(membership.user)
    return client, membership


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.mark.django_db
def test_admin_refuses_to_demote_the_last_owner(owner_admin, tenant):
    client, mine = owner_admin
    url = reverse("admin:pse_crm_membership_change", args=[mine.pk])
    response = client.post(url, {"role": "viewer", "is_active": "on"})
    assert response.status_code == 302 and LAST_OWNER in _messages(response)
    mine.refresh_from_db()
    assert mine.role == Role.OWNER
    assert not LogEntry.objects.filter(object_id=str(mine.pk)).exists()
    # With a second owner, the same change goes through.
    _member(tenant)
    client.post(url, {"role": "viewer", "is_active": "on"})
    mine.refresh_from_db()
    assert mine.role == Role.VIEWER


@pytest.mark.django_db
def test_admin_refuses_to_delete_the_last_owner(owner_admin, tenant):
    client, mine = owner_admin
    response = client.post(
        reverse("admin:pse_crm_membership_delete", args=[mine.pk]), {"post": "yes"}
    )
    assert LAST_OWNER in _messages(response)
    assert _owners(tenant) == [mine.user.email]


@pytest.mark.django_db
def test_admin_bulk_delete_of_every_owner_deletes_nothing(owner_admin, tenant):
    client, mine = owner_admin
    second = _member(tenant)
    staff = _member(tenant, Role.STAFF)
    response = client.post(
        reverse("admin:pse_crm_membership_changelist"),
        {
            "action": "delete_selected",
            "_selected_action": [mine.pk, second.pk, staff.pk],
            "post": "yes",
        },
    )
    assert LAST_OWNER in _messages(response)
    assert Membership._base_manager.filter(tenant=tenant).count() == 3
    assert not LogEntry.objects.exists()  # the deletions' log entries are undone too


@pytest.mark.django_db
def test_superuser_admin_cannot_delete_the_last_owners_user(client, tenant, other_tenant):
    only = _member(tenant)
    _member(other_tenant)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    response = client.post(
        reverse("admin:pse_crm_user_delete", args=[only.user.pk]), {"post": "yes"}
    )
    assert LAST_OWNER in _messages(response)
    assert User.objects.filter(pk=only.user.pk).exists()
    # A user whose memberships may go is deleted with them.
    staff = _member(tenant, Role.STAFF)
    client.post(reverse("admin:pse_crm_user_delete", args=[staff.user.pk]), {"post": "yes"})
    assert not User.objects.filter(pk=staff.user.pk).exists()


@pytest.mark.django_db
def test_superuser_admin_adds_through_the_service(client, tenant):
    existing = _member(tenant, Role.STAFF)
    newcomer = UserFactory()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    url = reverse("admin:pse_crm_membership_add")
    form = {"tenant": tenant.pk, "role": "manager", "is_active": "on"}
    response = client.post(url, {**form, "user": newcomer.pk})
    assert response.status_code == 302
    added = Membership._base_manager.get(tenant=tenant, user=newcomer)
    assert added.role == Role.MANAGER
    assert LogEntry.objects.get(object_id=str(added.pk)).object_repr == str(added)
    # A second membership of the same person: the service's message, not a server error.
    response = client.post(url, {**form, "user": existing.user.pk})
    assert "This person is already a member." in _messages(response)
    assert Membership._base_manager.get(pk=existing.pk).role == Role.STAFF


# --- the create_user command ----------------------------------------------------------


@pytest.mark.django_db
def test_create_user_refuses_to_demote_the_last_owner(tenant):
    call_command("create_user", tenant="acme", email="boss@acme.example", role="owner")
    with pytest.raises(CommandError, match=LAST_OWNER):
        call_command(
            "create_user", tenant="acme", email="boss@acme.example", role="staff", password="pw2"
        )
    assert _owners(tenant) == ["boss@acme.example"]
    # Nothing else of the refused run stays either.
    assert not User.objects.get(email="boss@acme.example").check_password("pw2")


@pytest.mark.django_db
def test_create_user_staff_flag_and_reactivation(tenant):
    call_command(
        "create_user", tenant="acme", email="s@acme.example", role="owner", password="p", staff=True
    )
    user = User.objects.get(email="s@acme.example")
    assert user.is_staff and user.check_password("p")
    membership = Membership._base_manager.get(user=user)
    second = _member(tenant)
    with tenant_scope(tenant):
        membership_deactivate(membership=membership)
    call_command("create_user", tenant="acme", email="s@acme.example", role="owner")
    assert _owners(tenant) == sorted(["s@acme.example", second.user.email])


# --- two owners at once ----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_owners_demoting_each_other_at_once_leave_one_owner(tenant):
    """The first demotion holds its transaction open; the second must wait for it, then
    count again and be refused. Without the owners' lock both would pass (each sees two
    owners) and the tenant would have none."""
    one, two = _member(tenant), _member(tenant)
    demoted, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []
    refused: list[ValidationError] = []

    def first():
        with tenant_scope(tenant), transaction.atomic():
            membership_role_change(membership=one, role=Role.STAFF)
            demoted.set()
            release.wait(10)

    def second():
        with tenant_scope(tenant):
            try:
                membership_role_change(membership=two, role=Role.STAFF)
            except ValidationError as exc:
                refused.append(exc)

    holder = on_another_connection(first, errors)
    try:
        assert demoted.wait(10), errors
        waiter = on_another_connection(second, errors)
        waiter.join(1)
        assert waiter.is_alive(), "the second demotion should wait for the first"
    finally:
        release.set()
        holder.join(20)
    waiter.join(20)
    assert not errors, errors
    assert [e.code for e in refused] == ["last_owner"]
    assert _owners(tenant) == [two.user.email]
