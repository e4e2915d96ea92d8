"""Deal signals: a burst of material views (or a telling single view) marks a likely deal.

``SignalRule`` holds a tenant's thresholds per kind of signal; ``DealSignal`` is one raised
signal with the views that triggered it (``DealSignalView``); ``Notification`` and
``NotificationPreference`` reach the people who should act on it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from activities.models import Material, MaterialView
from partners.models import Partner
from pse_crm.models import TenantOwned
from reps.models import Rep

__all__ = [
    "DealSignal",
    "DealSignalView",
    "Notification",
    "NotificationPreference",
    "SignalEvaluationBacklog",
    "SignalKind",
    "SignalRule",
]

# A rule's window may not exceed 30 days: older activity is history, not a signal.
MAX_WINDOW_HOURS = 30 * 24


class SignalKind(models.TextChoices):
    BURST = "burst", _("Burst of views")
    FIRST_VIEW = "first_view", _("First view by a rep")
    LATE_STAGE = "late_stage", _("Late-stage material viewed")
    REACTIVATION = "reactivation", _("Dormant or bottom-tier rep active")


class SignalRule(TenantOwned):
    """A tenant's rule for one kind of signal. Missing rules take ``DEFAULTS``.

    ``threshold`` views within ``window_hours`` raise a signal (``first_view`` always needs
    one view). ``material_kinds`` narrows ``late_stage`` to the kinds that mean a customer
    is close to buying. An open signal expires after ``expiry_days``.
    """

    DEFAULTS: dict[str, dict] = {
        SignalKind.BURST: {"threshold": 3, "window_hours": 48},
        SignalKind.FIRST_VIEW: {"threshold": 1, "window_hours": 48},
        SignalKind.LATE_STAGE: {
            "threshold": 1,
            "window_hours": 48,
            "material_kinds": [str(k) for k in Material.LATE_STAGE_KINDS],
        },
        SignalKind.REACTIVATION: {"threshold": 2, "window_hours": 7 * 24},
    }

    kind = models.CharField(_("kind"), max_length=16, choices=SignalKind.choices)
    is_enabled = models.BooleanField(_("enabled"), default=True)
    threshold = models.PositiveIntegerField(
        _("views needed"), default=3, help_text=_("At least this many views by one rep.")
    )
    window_hours = models.PositiveIntegerField(
        _("window (hours)"), default=48, help_text=_("Within this many hours (30 days at most).")
    )
    material_kinds = models.JSONField(
        _("material kinds"),
        default=list,
        blank=True,
        help_text=_("Late-stage signals only: the kinds of material that count."),
    )
    expiry_days = models.PositiveIntegerField(
        _("open for (days)"),
        default=14,
        help_text=_("An unhandled signal expires after this many days."),
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        # Moved here from the enablement app; the table keeps its name.
        db_table = "enablement_signalrule"
        verbose_name = _("signal rule")
        verbose_name_plural = _("signal rules")
        ordering = ["kind"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "kind"], name="signalrule_unique_tenant_kind")
        ]

    def __str__(self) -> str:
        return str(self.get_kind_display())


class DealSignal(TenantOwned):
    """A likely deal: a rep's views that matched a rule. One open signal per rep and kind."""

    # No single-column tenant index (migration 0004): every index of the table leads with the
    # tenant, so one index fewer to maintain on each of the evaluation's inserts.
    tenant = models.ForeignKey(
        "pse_crm.Tenant",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("tenant"),
        editable=False,
        db_index=False,
    )

    class Status(models.TextChoices):
        NEW = "new", _("New")
        ACTED = "acted", _("Acted on")
        DISMISSED = "dismissed", _("Dismissed")
        EXPIRED = "expired", _("Expired")

    rep = models.ForeignKey(
        Rep, on_delete=models.PROTECT, related_name="deal_signals", verbose_name=_("rep")
    )
    # The rep's partner when the signal was raised: the inbox filters and notifies by it.
    partner = models.ForeignKey(
        Partner, on_delete=models.PROTECT, related_name="deal_signals", verbose_name=_("partner")
    )
    kind = models.CharField(_("kind"), max_length=16, choices=SignalKind.choices)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.NEW
    )
    views = models.ManyToManyField(
        MaterialView,
        through="DealSignalView",
        related_name="deal_signals",
        verbose_name=_("triggering views"),
    )
    view_count = models.PositiveIntegerField(_("views"), default=0)
    first_viewed_at = models.DateTimeField(_("first view"))
    last_viewed_at = models.DateTimeField(_("last view"))
    has_open_deal = models.BooleanField(
        _("deal in progress"),
        default=False,
        help_text=_("The rep already had an open deal when the signal was raised."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    expires_at = models.DateTimeField(_("expires"))
    handled_at = models.DateTimeField(_("handled"), null=True, blank=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("handled by"),
    )
    dismiss_reason = models.TextField(_("reason for dismissing"), blank=True)
    support_task = models.OneToOneField(
        "support.SupportTask",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="deal_signal",
        verbose_name=_("support task"),
    )

    class Meta:
        # Moved here from the enablement app; the table keeps its name.
        db_table = "enablement_dealsignal"
        verbose_name = _("deal signal")
        verbose_name_plural = _("deal signals")
        ordering = ["-created_at", "-pk"]
        constraints = [
            # The database itself refuses a second open signal of a kind for a rep.
            models.UniqueConstraint(
                fields=["tenant", "rep", "kind"],
                condition=Q(status="new"),
                name="dealsignal_one_open_per_rep_kind",
            ),
            models.CheckConstraint(
                condition=~Q(status="dismissed") | ~Q(dismiss_reason=""),
                name="dealsignal_dismissed_has_reason",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "status", "created_at"]),
            models.Index(fields=["tenant", "partner", "created_at"]),
            models.Index(fields=["tenant", "rep", "kind"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.rep_id}"

    @property
    def label(self) -> str:
        """What the signal means for the deal pipeline."""
        if self.has_open_deal:
            return str(_("Deal in progress"))
        return str(_("Possible new deal"))


class DealSignalView(TenantOwned):
    """A view that triggered a signal. A view raises each kind of signal at most once."""

    # No single-column tenant index (migration 0004): every index of the table leads with the
    # tenant, so one index fewer to maintain on each of the evaluation's inserts.
    tenant = models.ForeignKey(
        "pse_crm.Tenant",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("tenant"),
        editable=False,
        db_index=False,
    )
    signal = models.ForeignKey(
        DealSignal, on_delete=models.CASCADE, related_name="+", verbose_name=_("signal")
    )
    view = models.ForeignKey(
        MaterialView, on_delete=models.CASCADE, related_name="+", verbose_name=_("view")
    )
    # Copied from the signal so that the constraint below can hold "once per kind".
    kind = models.CharField(_("kind"), max_length=16, choices=SignalKind.choices)

    class Meta:
        # Moved here from the enablement app; the table keeps its name.
        db_table = "enablement_dealsignalview"
        verbose_name = _("triggering view")
        verbose_name_plural = _("triggering views")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "kind", "view"], name="dealsignalview_unique_kind_view"
            )
        ]
        # No (tenant, signal) index: the foreign key's own index on signal serves every
        # lookup by signal (scoped or not, and the cascade of a deleted signal).


class NotificationPreference(TenantOwned):
    """How one member hears about deal signals, and whether they are on duty.

    Without a row a member gets one email per signal. Members ``on_duty`` receive the
    signals of partners that have no vendor-side owner.
    """

    class Email(models.TextChoices):
        IMMEDIATE = "immediate", _("One email per signal")
        DIGEST = "digest", _("A daily digest")
        NONE = "none", _("No email (in-app only)")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("user"),
    )
    email = models.CharField(
        _("email"), max_length=16, choices=Email.choices, default=Email.IMMEDIATE
    )
    on_duty = models.BooleanField(
        _("on duty"),
        default=False,
        help_text=_("Receive the signals of partners that have no owner."),
    )

    class Meta:
        # Moved here from the enablement app; the table keeps its name.
        db_table = "enablement_notificationpreference"
        verbose_name = _("notification preference")
        verbose_name_plural = _("notification preferences")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user"], name="notificationpref_unique_user")
        ]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.email}"


class Notification(TenantOwned):
    """An in-app notice to one user. ``emailed_at`` / ``digested_at`` make email sent once."""

    # No single-column tenant index (migration 0004): every index of the table leads with the
    # tenant, so one index fewer to maintain on each of the evaluation's inserts.
    tenant = models.ForeignKey(
        "pse_crm.Tenant",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("tenant"),
        editable=False,
        db_index=False,
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("user"),
    )
    signal = models.ForeignKey(
        DealSignal,
        on_delete=models.CASCADE,
        related_name="notifications",
        verbose_name=_("signal"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    read_at = models.DateTimeField(_("read"), null=True, blank=True)
    emailed_at = models.DateTimeField(_("emailed"), null=True, blank=True)
    digested_at = models.DateTimeField(_("sent in a digest"), null=True, blank=True)

    class Meta:
        # Moved here from the enablement app; the table keeps its name.
        db_table = "enablement_notification"
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "user", "signal"], name="notification_unique_user_signal"
            )
        ]
        indexes = [models.Index(fields=["tenant", "user", "read_at"])]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.signal_id}"


class SignalEvaluationBacklog(TenantOwned):
    """Reps whose new views were not checked for deal signals: the task queue was down
    when the views arrived. The hourly sweep queues their check and deletes the row
    (``deal_signals_backlog_replay``), so a queue outage delays signals, never loses them.
    """

    rep_ids = models.JSONField(_("ids of the reps to check"), default=list)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        # Moved here from the enablement app; the table keeps its name.
        db_table = "enablement_signalevaluationbacklog"
        verbose_name = _("deal-signal check waiting for the queue")
        verbose_name_plural = _("deal-signal checks waiting for the queue")
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{len(self.rep_ids)} reps since {self.created_at:%Y-%m-%d %H:%M}"
