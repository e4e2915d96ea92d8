"""Sales-support tasks (セールスサポート) for keyman ② reps, their history and comments,
and the quick win (クイックウィン) each one led to, or not."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from activities.models import Deal
from pse_crm.models import TenantOwned
from reps.models import Rep


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
        # Moved here from the enablement app; the table keeps its name.
        db_table = "enablement_supporttask"
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
        # Moved here from the enablement app; the table keeps its name.
        db_table = "enablement_supporttasktransition"
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
        # Moved here from the enablement app; the table keeps its name.
        db_table = "enablement_supporttaskcomment"
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
        # Moved here from the enablement app; the table keeps its name.
        db_table = "enablement_quickwin"
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
