"""Memberships: add a person to a tenant, change their role, deactivate, delete.

The one home of the membership rules; the settings page (through an accepted invitation,
pse_crm.services.invitations), the admin and the ``create_user`` command all call these,
so they can never disagree:

* A tenant keeps at least one active owner, so it can never lock itself out. Every
  change that could take an owner away first locks the tenant's active owner rows
  (``SELECT ... FOR UPDATE``, in a transaction), so two owners demoting each other at
  the same moment cannot both pass the check: the second waits for the first, then
  counts again.
* A person is a member of a tenant once.

A broken rule raises ``django.core.exceptions.ValidationError`` (translated, with a
``code``) and nothing is written. The caller works inside the membership's tenant scope
(or the superuser's ``all_tenants``): another tenant's membership is not found.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from pse_crm.models import Membership, Tenant, User
from pse_crm.roles import Role

LAST_OWNER = "last_owner"


def check_role(role: str) -> None:
    if role not in Role.values:
        raise ValidationError({"role": _("Choose a valid role.")}, code="invalid_role")


def _lock_active_owners(*, tenant_id: int) -> set[int]:
    """The pks of the tenant's active owner memberships, locked until the transaction ends.

    Evaluated (a bare ``count()`` takes no lock), in pk order so that two callers queue
    on the same first row instead of deadlocking. A caller that waited re-reads the rows
    a concurrent change committed, so a demoted owner is no longer counted.
    """
    return set(
        Membership.objects.select_for_update()
        .filter(tenant_id=tenant_id, role=Role.OWNER, is_active=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _locked_current(membership: Membership) -> tuple[Membership, set[int]]:
    """The owners' lock, then the membership's row as stored (the caller's instance may
    already carry the new values, as the admin's does, or be stale)."""
    owners = _lock_active_owners(tenant_id=membership.tenant_id)
    current = Membership.objects.select_for_update().get(pk=membership.pk)
    return current, owners


def _keep_an_owner(*, current: Membership, owners: set[int], stays_owner: bool) -> None:
    if current.pk in owners and not stays_owner and len(owners) <= 1:
        raise ValidationError(_("A tenant needs at least one active owner."), code=LAST_OWNER)


def _user_create(*, email: str, password: str | None) -> User:
    try:
        with transaction.atomic():
            return User.objects.create_user(email=email, password=password)
    except IntegrityError:
        # Created a moment ago by another tenant's owner: that account, its password kept.
        return User.objects.get(email__iexact=email)


def membership_add(
    *,
    tenant: Tenant,
    email: str,
    role: str,
    password: str | None = None,
    is_active: bool = True,
) -> Membership:
    """Make the person with ``email`` a member of ``tenant`` with ``role``, at once.

    No consent is asked: owners invite (``invitation_create``) and the invitee's
    acceptance calls this; the operator's ``create_user`` and the superuser's admin call
    it directly.

    An email with no account creates the user with ``password`` as their initial
    password (``None``: an unusable one, to be reset before logging in); an existing
    account keeps its own password, whatever is passed, so callers that always ask for
    one reveal nothing about accounts elsewhere. Raises ``ValidationError`` (on
    ``email``) when the person is already a member of ``tenant``, active or not, and
    (on ``role``) for an unknown role. Adding never takes an owner away, so it needs no
    owner lock.
    """
    check_role(role)
    email = User.objects.normalize_email(email.strip()).lower()
    already = ValidationError(
        {"email": _("This person is already a member.")}, code="already_member"
    )
    with transaction.atomic():
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            user = _user_create(email=email, password=password)
        elif Membership.objects.filter(tenant=tenant, user=user).exists():
            raise already
        try:
            # A savepoint: the same person added twice at once meets the unique
            # constraint, which answers like the check above.
            with transaction.atomic():
                return Membership.objects.create(
                    tenant=tenant, user=user, role=role, is_active=is_active
                )
        except IntegrityError:
            raise already from None


def membership_role_change(
    *, membership: Membership, role: str, is_active: bool | None = None
) -> Membership:
    """Give ``membership`` the role ``role`` (and, when given, make it active or not).

    The settings page sends role and activity in one form, hence one call and one check
    of the end state. Guarantees the tenant keeps an active owner (``ValidationError``
    with code ``last_owner`` otherwise, nothing written). ``membership`` is updated in
    place and returned.
    """
    check_role(role)
    with transaction.atomic():
        current, owners = _locked_current(membership)
        active = current.is_active if is_active is None else is_active
        _keep_an_owner(current=current, owners=owners, stays_owner=role == Role.OWNER and active)
        membership.role, membership.is_active = role, active
        membership.save(update_fields=["role", "is_active"])
    return membership


def membership_deactivate(*, membership: Membership) -> Membership:
    """Deactivate ``membership`` (its role kept): the person loses access to the tenant.

    Guarantees the tenant keeps an active owner, as ``membership_role_change`` does.
    """
    with transaction.atomic():
        current, _owners = _locked_current(membership)
        return membership_role_change(membership=membership, role=current.role, is_active=False)


def membership_delete(*, membership: Membership) -> None:
    """Delete ``membership``; the user account stays (it may belong to other tenants).

    Guarantees the tenant keeps an active owner (``ValidationError`` with code
    ``last_owner`` otherwise, nothing deleted).
    """
    with transaction.atomic():
        current, owners = _locked_current(membership)
        _keep_an_owner(current=current, owners=owners, stays_owner=False)
        membership.delete()


def membership_mark_used(*, membership: Membership) -> None:
    """Record that the member entered ``membership``'s tenant now: their next login lands
    in the tenant they used last. A queryset update (no audit event, no signal); run in
    the membership's tenant scope."""
    Membership.objects.filter(pk=membership.pk).update(last_used_at=timezone.now())
