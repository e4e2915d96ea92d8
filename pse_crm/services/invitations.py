"""Invitations: an owner invites an email address; the person joins only by accepting.

Nothing is enrolled without consent, and the inviting tenant learns nothing about the
address beyond what its owner typed:

* ``invitation_create`` answers the same for every address, with or without an account
  anywhere: it stores an invitation and emails a link, nothing else. Only a person who is
  already a member of *this* tenant is refused (the owner sees them listed anyway).
* The link is signed (``SECRET_KEY``) and names the tenant, the invitation and how many
  times it was sent. It stops working when the invitation is accepted (single use),
  revoked, expired (``settings.INVITATION_DAYS``) or sent again (the count moved on).
* ``invitation_accept`` creates the membership through ``membership_add``, so the
  membership rules stay in one place; a person with an account must be logged in as
  the invited address, a person without one sets their own password.

The link is opened before any login, so ``invitation_from_token`` and
``invitation_accept`` enter the tenant the signed link names themselves; everything else
runs in the caller's tenant scope, where another tenant's invitation is not found.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from pse_crm.models import Invitation, Membership, Tenant, User
from pse_crm.services.memberships import check_role, membership_add, membership_role_change
from pse_crm.tenancy import require_scope, tenant_scope

log = logging.getLogger(__name__)

SALT = "pse_crm.invitation"


def _days() -> int:
    return settings.INVITATION_DAYS


def _normalize(email: str) -> str:
    return User.objects.normalize_email(email.strip()).lower()


def invitation_token(*, invitation: Invitation) -> str:
    """The signed link token of the invitation as last sent."""
    return signing.Signer(salt=SALT).sign_object(
        [invitation.tenant_id, invitation.pk, invitation.send_count]
    )


def invitation_url(*, invitation: Invitation) -> str:
    path = reverse("invitation-accept", kwargs={"token": invitation_token(invitation=invitation)})
    return settings.SITE_URL.rstrip("/") + path


def _send(invitation: Invitation, tenant: Tenant) -> None:
    """Email the link. A failure raises ``ValidationError`` so the caller's transaction
    (the invitation, its new count) is rolled back: no invitation without its email."""
    inviter = invitation.invited_by
    context = {
        "tenant": tenant,
        "inviter": (inviter.get_full_name() or inviter.email) if inviter else "",
        "role": invitation.get_role_display(),
        "url": invitation_url(invitation=invitation),
        "expires_at": invitation.expires_at,
        "days": _days(),
    }
    subject = _("Invitation to %(tenant)s on PSE CRM") % {"tenant": tenant.name}
    body = render_to_string("pse_crm/email_invitation.txt", context)
    try:
        send_mail(subject, body, None, [invitation.email])
    except Exception:
        log.exception("invitation %s: the email could not be sent", invitation.pk)
        raise ValidationError(
            _("The invitation email could not be sent. Try again in a moment."),
            code="send_failed",
        ) from None


def invitation_create(*, tenant: Tenant, email: str, role: str, invited_by: User) -> Invitation:
    """Invite ``email`` to ``tenant`` with ``role`` and email them the link.

    Guarantees: no user and no membership is created or changed, and the answer is the
    same whether or not the address has an account anywhere. An open invitation of the
    same address is sent again with the new role (its older link stops working). Raises
    ``ValidationError`` on ``email`` when the person is already a member of ``tenant``
    and on ``role`` for an unknown role. Runs in ``tenant``'s scope.
    """
    require_scope(tenant)
    check_role(role)
    email = _normalize(email)
    expires_at = timezone.now() + dt.timedelta(days=_days())
    with transaction.atomic():
        if Membership.objects.filter(tenant=tenant, user__email__iexact=email).exists():
            raise ValidationError(
                {"email": _("This person is already a member.")}, code="already_member"
            )
        invitation = (
            Invitation.objects.select_for_update().open().filter(tenant=tenant, email=email).first()
        )
        if invitation is None:
            try:
                with transaction.atomic():
                    invitation = Invitation.objects.create(
                        tenant=tenant,
                        email=email,
                        role=role,
                        invited_by=invited_by,
                        expires_at=expires_at,
                    )
            except IntegrityError:
                # The same address invited a moment ago by another owner: send that one.
                invitation = (
                    Invitation.objects.select_for_update().open().get(tenant=tenant, email=email)
                )
            else:
                _send(invitation, tenant)
                return invitation
        invitation.role, invitation.invited_by = role, invited_by
        return _resend(invitation, tenant, expires_at)


def _resend(invitation: Invitation, tenant: Tenant, expires_at: dt.datetime) -> Invitation:
    invitation.send_count += 1
    invitation.expires_at = expires_at
    invitation.save(update_fields=["role", "invited_by", "send_count", "expires_at"])
    _send(invitation, tenant)
    return invitation


def invitation_resend(*, invitation: Invitation) -> Invitation:
    """Send an open invitation again with a new link, valid for ``INVITATION_DAYS`` from
    now; every earlier link of it stops working. Raises ``ValidationError`` for an
    accepted or revoked invitation."""
    with transaction.atomic():
        current = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if current.state in (Invitation.State.ACCEPTED, Invitation.State.REVOKED):
            raise ValidationError(_("This invitation is closed."), code="closed")
        expires_at = timezone.now() + dt.timedelta(days=_days())
        return _resend(current, current.tenant, expires_at)


def invitation_revoke(*, invitation: Invitation) -> Invitation:
    """Withdraw an open invitation: its link stops working. An accepted one stays
    accepted (revoke the membership instead); revoking twice changes nothing."""
    with transaction.atomic():
        current = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if current.accepted_at is None and current.revoked_at is None:
            current.revoked_at = timezone.now()
            current.save(update_fields=["revoked_at"])
        return current


# --- the link, opened by the invitee ---------------------------------------------------


def _unsign(token: str) -> tuple[int, int, int] | None:
    try:
        tenant_id, invitation_id, count = signing.Signer(salt=SALT).unsign_object(token)
        return int(tenant_id), int(invitation_id), int(count)
    except (signing.BadSignature, TypeError, ValueError):
        return None


def invitation_from_token(*, token: str) -> Invitation | None:
    """The invitation a link names, with its tenant, whatever its state; None for a link
    that is forged, names no invitation of that tenant, or was replaced by a newer one.

    Reads in the tenant the signed link names (the invitee may have no login yet)."""
    parts = _unsign(token)
    if parts is None:
        return None
    tenant_id, invitation_id, count = parts
    tenant = Tenant.objects.filter(pk=tenant_id, is_active=True).first()
    if tenant is None:
        return None
    with tenant_scope(tenant):
        invitation = Invitation.objects.filter(pk=invitation_id, send_count=count).first()
    if invitation is not None:
        invitation.tenant = tenant
    return invitation


def invitation_accept(
    *, token: str, user: User | None = None, password: str | None = None
) -> Membership:
    """Accept the invitation of ``token``: the invited person becomes a member with the
    invited role, and the link is used up.

    Either ``user`` (logged in; must be the invited address) or ``password`` (no account
    yet: one is created with it; the caller validated it). Raises ``ValidationError``
    with code ``invalid`` (no such link), ``expired``, ``accepted``, ``revoked``,
    ``other_address`` (``user`` is someone else) or ``account_exists`` (a password for an
    address that has an account: log in instead); nothing is written then. The row is
    locked, so one link makes one membership however often it is posted.
    """
    found = invitation_from_token(token=token)
    if found is None:
        raise ValidationError(_("This invitation link is not valid."), code="invalid")
    tenant = found.tenant
    with tenant_scope(tenant), transaction.atomic():
        invitation = (
            Invitation.objects.select_for_update()
            .filter(pk=found.pk, send_count=found.send_count)
            .first()
        )
        if invitation is None:
            raise ValidationError(_("This invitation link is not valid."), code="invalid")
        state = invitation.state
        if state != Invitation.State.PENDING:
            raise ValidationError(INVITATION_CLOSED[state](), code=state)
        if user is not None:
            if user.email.lower() != invitation.email:
                raise ValidationError(
                    _("This invitation is for another email address."), code="other_address"
                )
        else:
            _account_create(email=invitation.email, password=password)
        existing = Membership.objects.filter(
            tenant=tenant, user__email__iexact=invitation.email
        ).first()
        if existing is None:
            membership = membership_add(tenant=tenant, email=invitation.email, role=invitation.role)
        elif existing.is_active:
            membership = existing
        else:
            # Deactivated after the invitation went out: accepting it lets them back in,
            # with the role the invitation offers.
            membership = membership_role_change(
                membership=existing, role=invitation.role, is_active=True
            )
        invitation.accepted_at = timezone.now()
        invitation.save(update_fields=["accepted_at"])
        return membership


def _account_create(*, email: str, password: str | None) -> User:
    if not password:
        raise ValidationError(_("Choose a password."), code="password_required")
    already = ValidationError(
        _("This address already has an account: log in to accept."), code="account_exists"
    )
    if User.objects.filter(email__iexact=email).exists():
        raise already
    try:
        with transaction.atomic():
            return User.objects.create_user(email=email, password=password)
    except IntegrityError:
        raise already from None


INVITATION_CLOSED = {
    Invitation.State.EXPIRED: lambda: _(
        "This invitation has expired. Ask the person who invited you to send it again."
    ),
    Invitation.State.ACCEPTED: lambda: _("This invitation has already been used."),
    Invitation.State.REVOKED: lambda: _("This invitation was withdrawn."),
}
