"""Tenancy core: users, tenants, memberships, API keys and the tenant-owned base model."""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django_scopes import ScopedManager
from rest_framework_api_key.models import AbstractAPIKey

from pse_crm.roles import KEY_SCOPE_VALUES, KeyScope, Role, key_roles, validate_key_scopes


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **extra):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra.update(is_staff=True, is_superuser=True)
        return self._create(email, password, **extra)


class User(AbstractUser):
    """A person who logs in. Identified by email; belongs to tenants through memberships."""

    username = None
    email = models.EmailField(_("email address"), unique=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    def __str__(self) -> str:
        return self.get_full_name() or self.email


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("Unknown time zone: %(tz)s"), params={"tz": value})


class Tenant(models.Model):
    """A vendor company. No tenant ever sees another's data."""

    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("slug"), max_length=63, unique=True)
    timezone = models.CharField(
        _("time zone"), max_length=64, default="Asia/Tokyo", validators=[validate_timezone]
    )
    corporate_currency = models.CharField(
        _("corporate currency"),
        max_length=3,
        default="JPY",
        validators=[RegexValidator(r"^[A-Z]{3}$", _("A three-letter ISO currency code."))],
        help_text=_("Every amount summed anywhere is converted to this currency."),
    )
    settings = models.JSONField(_("settings"), default=dict, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("tenant")
        verbose_name_plural = _("tenants")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class TenantOwned(models.Model):
    """Base of every tenant-owned model.

    ``objects`` fails closed (raises with no tenant in scope). Django's ``_base_manager``
    stays a plain manager, so forward foreign-key access and cascades keep working; a
    row reached that way belongs to a row already in scope. A new row takes the tenant in
    scope when none is given.
    """

    tenant = models.ForeignKey(
        Tenant, on_delete=models.PROTECT, related_name="+", verbose_name=_("tenant"), editable=False
    )

    objects = ScopedManager(tenant="tenant")

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if self.tenant_id is None:
            from pse_crm.tenancy import current_tenant

            self.tenant = current_tenant()
        super().save(*args, **kwargs)


class MembershipQuerySet(models.QuerySet):
    def active(self):
        return self.filter(is_active=True, tenant__is_active=True)


class Membership(TenantOwned):
    """A user's role in one tenant."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="memberships",
        verbose_name=_("user"),
    )
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.STAFF)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    # When the member last entered this tenant (a login, the tenant switcher): the next
    # login lands in the tenant used last. Written by a queryset update (no audit event).
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)

    objects = ScopedManager(
        tenant="tenant", _manager_class=models.Manager.from_queryset(MembershipQuerySet)
    )
    # A user's own memberships across tenants (login, tenant switcher). Always filter by user.
    of_user = MembershipQuerySet.as_manager()

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user"], name="membership_unique_tenant_user")
        ]
        indexes = [models.Index(fields=["tenant", "role"])]

    def __str__(self) -> str:
        return f"{self.user} @ {self.tenant_id} ({self.role})"


class InvitationQuerySet(models.QuerySet):
    def open(self):
        """Neither accepted nor revoked (an expired one is still open: it may be resent)."""
        return self.filter(accepted_at__isnull=True, revoked_at__isnull=True)


class Invitation(TenantOwned):
    """An owner's invitation of an email address to the tenant, with a role.

    No membership and no account exist until the invitee accepts (pse_crm.services.
    invitations); until then the tenant knows only the address its owner typed. The link
    carries the tenant, the invitation and ``send_count``, signed: resending counts up,
    so an older link no longer matches.
    """

    class State(models.TextChoices):
        PENDING = "pending", pgettext_lazy("invitation", "Pending")
        EXPIRED = "expired", pgettext_lazy("invitation", "Expired")
        ACCEPTED = "accepted", pgettext_lazy("invitation", "Accepted")
        REVOKED = "revoked", pgettext_lazy("invitation", "Revoked")

    email = models.EmailField(_("email address"))
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.STAFF)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("invited by"),
    )
    send_count = models.PositiveSmallIntegerField(_("times sent"), default=1)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires"))
    accepted_at = models.DateTimeField(_("accepted"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    objects = ScopedManager(
        tenant="tenant", _manager_class=models.Manager.from_queryset(InvitationQuerySet)
    )

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "email"],
                condition=models.Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_unique_open_tenant_email",
            )
        ]

    def __str__(self) -> str:
        return f"{self.email} ({self.role})"

    @property
    def state(self) -> str:
        if self.accepted_at is not None:
            return self.State.ACCEPTED
        if self.revoked_at is not None:
            return self.State.REVOKED
        if self.expires_at <= timezone.now():
            return self.State.EXPIRED
        return self.State.PENDING

    def get_state_display(self) -> str:
        return str(self.State(self.state).label)


class TenantAPIKey(AbstractAPIKey):
    """An integration's key: stored hashed, shown once, named, revocable, per tenant.

    Looked up by its prefix before any tenant is known, so it is not a scoped model; the
    key itself decides the tenant.
    """

    tenant = models.ForeignKey(
        Tenant, on_delete=models.PROTECT, related_name="api_keys", verbose_name=_("tenant")
    )
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    # Comma-separated, sorted, each once: "read", "write", "outbound" (pse_crm.roles.KeyScope;
    # what each allows: pse_crm.roles). Keys made before scopes existed are "write".
    scopes = models.CharField(
        _("scopes"), max_length=64, default=KeyScope.WRITE, validators=[validate_key_scopes]
    )

    class Meta(AbstractAPIKey.Meta):
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        indexes = [models.Index(fields=["tenant", "revoked"])]
        constraints = [
            # Only the stored form: a typo in a scope can never grant or hide anything.
            models.CheckConstraint(
                condition=models.Q(scopes__in=KEY_SCOPE_VALUES), name="pse_crm_api_key_scopes_known"
            )
        ]

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split(",")

    @property
    def roles(self) -> frozenset[str]:
        """The roles the key acts with, one per scope (pse_crm.roles.KEY_ROLES)."""
        return key_roles(self.scopes)


class AuditEvent(TenantOwned):
    """Who changed what, when: one row per create, change or deletion of an audited
    model (settings.AUDITED_MODELS). Written in the same transaction as the change."""

    class Action(models.TextChoices):
        CREATE = "create", _("Created")
        UPDATE = "update", _("Changed")
        DELETE = "delete", _("Deleted")

    at = models.DateTimeField(_("when"), auto_now_add=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("who"),
    )
    # Kept when the user is deleted; an API key or "system" (tasks, commands) otherwise.
    actor_label = models.CharField(_("who"), max_length=254)
    action = models.CharField(_("action"), max_length=8, choices=Action.choices)
    model_label = models.CharField(_("record type"), max_length=100)
    object_id = models.CharField(_("record id"), max_length=64)
    object_repr = models.CharField(_("record"), max_length=200)
    changes = models.JSONField(_("changes"), default=dict, blank=True)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-at", "-pk"]
        indexes = [
            models.Index(fields=["tenant", "-at"]),
            models.Index(fields=["tenant", "model_label", "object_id"]),
        ]

    def __str__(self) -> str:
        return f"{self.actor_label} {self.action} {self.model_label} {self.object_id}"
