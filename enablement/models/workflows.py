"""The method's daily work: hearings and know-how (keyman ①), sales-support tasks and quick
wins (keyman ②), and weekly momentum.

Reps are never deleted while they have history (see reps.models.Rep): every foreign key to
a rep here is ``PROTECT``. A rep who left the partner is kept with ``is_employed=False``;
suggestions skip such reps, their hearings, tasks and quick wins stay readable.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from activities.models import Deal
from partners.models import Partner
from pse_crm.models import TenantOwned
from reps.models import Rep

__all__ = [
    "Hearing",
    "KnowHow",
    "KnowHowShare",
    "KnowHowSource",
    "MomentumSnapshot",
    "QuickWin",
    "SupportTask",
    "SupportTaskComment",
    "SupportTaskTransition",
]


class Hearing(TenantOwned):
    """An interview (ヒアリング) with a rep, usually a performer or an independent, to capture
    how they sell."""

    rep = models.ForeignKey(
        Rep, on_delete=models.PROTECT, related_name="hearings", verbose_name=_("rep")
    )
    held_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("held by"),
    )
    held_on = models.DateField(_("date"))
    finding_customers = models.TextField(_("how they find customers with a need now"), blank=True)
    sales_approach = models.TextField(_("sales approach"), blank=True)
    materials_used = models.TextField(_("materials used"), blank=True)
    objections = models.TextField(_("objections and answers"), blank=True)
    notes = models.TextField(_("notes"), blank=True)
    tags = models.JSONField(_("tags"), default=list, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("hearing")
        verbose_name_plural = _("hearings")
        ordering = ["-held_on", "-pk"]
        indexes = [
            models.Index(fields=["tenant", "rep", "held_on"]),
            models.Index(fields=["tenant", "held_on"]),
        ]

    def __str__(self) -> str:
        return f"{self.rep} ({self.held_on:%Y-%m-%d})"


class KnowHow(TenantOwned):
    """A reusable piece of know-how (ノウハウ) drawn from one or more hearings."""

    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("body"))
    tags = models.JSONField(_("tags"), default=list, blank=True)
    products = models.JSONField(_("products"), default=list, blank=True)
    # The quadrants of the source reps when the know-how was written (performer, …).
    source_quadrants = models.JSONField(_("quadrants of the source reps"), default=list, blank=True)
    hearings = models.ManyToManyField(
        Hearing,
        through="KnowHowSource",
        related_name="know_how",
        blank=True,
        verbose_name=_("source hearings"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("written by"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("know-how")
        verbose_name_plural = _("know-how")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["tenant", "created_at"])]

    def __str__(self) -> str:
        return self.title


class KnowHowSource(TenantOwned):
    """A hearing a piece of know-how was drawn from."""

    know_how = models.ForeignKey(
        KnowHow, on_delete=models.CASCADE, related_name="sources", verbose_name=_("know-how")
    )
    hearing = models.ForeignKey(
        Hearing, on_delete=models.PROTECT, related_name="+", verbose_name=_("hearing")
    )

    class Meta:
        verbose_name = _("know-how source")
        verbose_name_plural = _("know-how sources")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "know_how", "hearing"], name="knowhowsource_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.know_how_id} ← {self.hearing_id}"


class KnowHowShare(TenantOwned):
    """Know-how shared with a partner, or with one rep of it (横展開, the horizontal spread).

    A share with a partner reaches every rep of that partner; a share with a rep reaches that
    rep only. ``partner`` is always set (the rep's partner for a rep share).
    """

    know_how = models.ForeignKey(
        KnowHow, on_delete=models.PROTECT, related_name="shares", verbose_name=_("know-how")
    )
    partner = models.ForeignKey(
        Partner, on_delete=models.PROTECT, related_name="know_how_shares", verbose_name=_("partner")
    )
    rep = models.ForeignKey(
        Rep,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="know_how_shares",
        verbose_name=_("rep"),
    )
    shared_on = models.DateField(_("shared on"))
    shared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("shared by"),
    )
    notes = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("know-how share")
        verbose_name_plural = _("know-how shares")
        ordering = ["-shared_on", "-pk"]
        indexes = [
            models.Index(fields=["tenant", "know_how", "shared_on"]),
            models.Index(fields=["tenant", "partner", "shared_on"]),
        ]

    def __str__(self) -> str:
        return f"{self.know_how} → {self.rep or self.partner}"


class SupportTask(TenantOwned):
    """A sales-support task (セールスサポート) for a rep, usually a motivated one (keyman ②)."""

    class Kind(models.TextChoices):
        ACCOMPANY = "accompany", _("Accompany a customer meeting")
        PROPOSAL_REVIEW = "proposal_review", _("Proposal review")
        MATERIALS = "materials", _("Materials")
        PRODUCT_TRAINING = "product_training", _("Product training")
        DEAL_STRATEGY = "deal_strategy", _("Deal strategy")
        OTHER = "other", _("Other")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        IN_PROGRESS = "in_progress", _("In progress")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")

    # The only moves a task's status may make.
    TRANSITIONS: dict[str, frozenset[str]] = {
        Status.OPEN: frozenset({Status.IN_PROGRESS, Status.CANCELLED}),
        Status.IN_PROGRESS: frozenset({Status.DONE, Status.CANCELLED}),
        Status.DONE: frozenset(),
        Status.CANCELLED: frozenset(),
    }
    OPEN_STATUSES = (Status.OPEN, Status.IN_PROGRESS)

    rep = models.ForeignKey(
        Rep, on_delete=models.PROTECT, related_name="support_tasks", verbose_name=_("rep")
    )
    deal = models.ForeignKey(
        Deal,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="support_tasks",
        verbose_name=_("deal"),
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    title = models.CharField(_("title"), max_length=200, blank=True)
    description = models.TextField(_("description"), blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="support_tasks",
        verbose_name=_("assignee"),
    )
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("assigned by"),
    )
    due_on = models.DateField(_("due date"))
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.OPEN
    )
    outcome_notes = models.TextField(_("outcome notes"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    done_at = models.DateTimeField(_("done"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled"), null=True, blank=True)

    class Meta:
        verbose_name = _("support task")
        verbose_name_plural = _("support tasks")
        ordering = ["due_on", "pk"]
        indexes = [
            models.Index(fields=["tenant", "assignee", "status"]),
            models.Index(fields=["tenant", "rep", "status"]),
            models.Index(fields=["tenant", "status", "due_on"]),
        ]

    def __str__(self) -> str:
        return self.title or f"{self.get_kind_display()}: {self.rep}"


class SupportTaskTransition(TenantOwned):
    """One status change of a task: who, when, from, to. Creation is recorded as "" → open."""

    task = models.ForeignKey(
        SupportTask, on_delete=models.CASCADE, related_name="transitions", verbose_name=_("task")
    )
    from_status = models.CharField(
        _("from"), max_length=16, choices=SupportTask.Status.choices, blank=True
    )
    to_status = models.CharField(_("to"), max_length=16, choices=SupportTask.Status.choices)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("changed by"),
    )
    changed_at = models.DateTimeField(_("changed at"))

    class Meta:
        verbose_name = _("support task status change")
        verbose_name_plural = _("support task status changes")
        ordering = ["changed_at", "pk"]
        indexes = [models.Index(fields=["tenant", "task", "changed_at"])]

    def __str__(self) -> str:
        return f"{self.task_id}: {self.from_status or '-'} → {self.to_status}"


class SupportTaskComment(TenantOwned):
    """A comment on a support task."""

    task = models.ForeignKey(
        SupportTask, on_delete=models.CASCADE, related_name="comments", verbose_name=_("task")
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("author"),
    )
    body = models.TextField(_("comment"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("support task comment")
        verbose_name_plural = _("support task comments")
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["tenant", "task", "created_at"])]

    def __str__(self) -> str:
        return f"{self.task_id}: {self.body[:40]}"


class QuickWin(TenantOwned):
    """The quick-win outcome (クイックウィン) of one started support task.

    Recomputed from the stored deals on every run (nightly and on demand), so a deal synced
    late is counted when it arrives. One row per task, upserted.
    """

    class Outcome(models.TextChoices):
        WON = "won", _("Won a deal")
        OPENED = "opened", _("Opened a new deal")
        PENDING = "pending", _("Window still open")
        MISSED = "missed", _("No win in the window")

    task = models.OneToOneField(
        SupportTask, on_delete=models.CASCADE, related_name="quick_win", verbose_name=_("task")
    )
    started_on = models.DateField(_("support started on"))
    window_days = models.PositiveSmallIntegerField(_("window (days)"))
    outcome = models.CharField(_("outcome"), max_length=8, choices=Outcome.choices)
    # The first won deal in the window and when it closed.
    won_deal = models.ForeignKey(
        Deal,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("first won deal"),
    )
    won_on = models.DateField(_("first win on"), null=True, blank=True)
    days_to_win = models.PositiveSmallIntegerField(_("days to first win"), null=True, blank=True)
    # The first deal opened in the window.
    opened_deal = models.ForeignKey(
        Deal,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("first new deal"),
    )
    opened_on = models.DateField(_("first new deal on"), null=True, blank=True)
    # The day the quick win happened (the earlier of won_on and opened_on in the window).
    achieved_on = models.DateField(_("achieved on"), null=True, blank=True)
    computed_at = models.DateTimeField(_("computed at"))

    class Meta:
        verbose_name = _("quick win")
        verbose_name_plural = _("quick wins")
        ordering = ["-started_on", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "task"], name="quickwin_unique_tenant_task")
        ]
        indexes = [
            models.Index(fields=["tenant", "outcome", "started_on"]),
            models.Index(fields=["tenant", "achieved_on"]),
        ]

    def __str__(self) -> str:
        return f"{self.task_id}: {self.outcome}"

    @property
    def is_quick_win(self) -> bool:
        return self.outcome in (self.Outcome.WON, self.Outcome.OPENED)


class MomentumSnapshot(TenantOwned):
    """One ISO week (tenant time zone) of momentum, for one partner or (partner empty) the
    whole tenant. Rebuilt, never edited: a rebuild replaces the week's rows."""

    partner = models.ForeignKey(
        Partner,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="momentum_snapshots",
        verbose_name=_("partner"),
    )
    week_start = models.DateField(_("week (Monday)"))
    iso_year = models.PositiveSmallIntegerField(_("ISO year"))
    iso_week = models.PositiveSmallIntegerField(_("ISO week"))
    reps = models.PositiveIntegerField(_("reps"), default=0)
    active_reps = models.PositiveIntegerField(_("active reps"), default=0)
    activation_rate = models.DecimalField(
        _("activation rate"), max_digits=5, decimal_places=4, default=0
    )
    keyman1 = models.PositiveIntegerField(_("keyman ① (performers)"), default=0)
    keyman2 = models.PositiveIntegerField(_("keyman ② (motivated)"), default=0)
    views = models.PositiveIntegerField(_("material views"), default=0)
    new_deals = models.PositiveIntegerField(_("new deals"), default=0)
    won_deals = models.PositiveIntegerField(_("won deals"), default=0)
    won_amount = models.DecimalField(_("won amount"), max_digits=18, decimal_places=2, default=0)
    tasks_done = models.PositiveIntegerField(_("support tasks done"), default=0)
    quick_wins = models.PositiveIntegerField(_("quick wins"), default=0)
    know_how_shares = models.PositiveIntegerField(_("know-how shares"), default=0)
    computed_at = models.DateTimeField(_("computed at"))

    class Meta:
        verbose_name = _("momentum snapshot")
        verbose_name_plural = _("momentum snapshots")
        ordering = ["-week_start", "partner_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "partner", "week_start"],
                condition=Q(partner__isnull=False),
                name="momentum_unique_partner_week",
            ),
            models.UniqueConstraint(
                fields=["tenant", "week_start"],
                condition=Q(partner__isnull=True),
                name="momentum_unique_tenant_week",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "partner", "week_start"])]

    def __str__(self) -> str:
        return f"{self.partner or _('All partners')} {self.iso_year}-W{self.iso_week:02d}"
