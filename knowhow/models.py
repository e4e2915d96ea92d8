"""Hearings with top reps (ヒアリング), the know-how written from them, and its shares to
other partners and reps (横展開)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from partners.models import Partner
from pse_crm.models import TenantOwned
from reps.models import Rep


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
        # Moved here from the enablement app; the table keeps its name.
        db_table = "enablement_hearing"
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
        # Moved here from the enablement app; the table keeps its name.
        db_table = "enablement_knowhow"
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
        # Moved here from the enablement app; the table keeps its name.
        db_table = "enablement_knowhowsource"
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
        # Moved here from the enablement app; the table keeps its name.
        db_table = "enablement_knowhowshare"
        verbose_name = _("know-how share")
        verbose_name_plural = _("know-how shares")
        ordering = ["-shared_on", "-pk"]
        indexes = [
            models.Index(fields=["tenant", "know_how", "shared_on"]),
            models.Index(fields=["tenant", "partner", "shared_on"]),
        ]

    def __str__(self) -> str:
        return f"{self.know_how} → {self.rep or self.partner}"


class KnowHowEffect(TenantOwned):
    """The measured effect of a piece of know-how (or of all of it, ``know_how`` null) on
    the reps it reached, against matched reps it did not reach: difference in differences
    of activation and win rate, N days after the share against N days before.

    Computed rows: ``know_how_effects_compute`` rewrites a tenant's rows every night (see
    knowhow/effect.py for the matching rule and its limits). Exported with the tenant like
    the segmentation runs, so an imported tenant shows its effects before its first night.
    Correlation, not causation.
    """

    class Status(models.TextChoices):
        MEASURED = "measured", _("Measured")
        TOO_SMALL = "too_small", _("Too few reps to measure")
        WAITING = "waiting", _("Waiting for the first N days after a share to pass")
        NO_SHARES = "no_shares", _("Not shared yet")

    know_how = models.ForeignKey(
        KnowHow,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="effects",
        verbose_name=_("know-how"),
    )
    days = models.PositiveSmallIntegerField(_("days before and after the share"))
    as_of_date = models.DateField(_("as-of day"))
    computed_at = models.DateTimeField(_("computed"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    reached = models.PositiveIntegerField(_("reps reached"), default=0)
    waiting = models.PositiveIntegerField(_("reached, window still open"), default=0)
    unmatched_segment = models.PositiveIntegerField(
        _("reached, not segmented at the share time"), default=0
    )
    unmatched_comparison = models.PositiveIntegerField(
        _("reached, no similar rep to compare with"), default=0
    )
    matched = models.PositiveIntegerField(_("reached and matched"), default=0)
    comparison_reps = models.PositiveIntegerField(_("comparison reps"), default=0)
    # {"activation": {...}, "win_rate": {...}}: each with reached_before, reached_after,
    # comparison_before, comparison_after, naive, did, ci_low, ci_high (fractions 0–1 and
    # their differences); empty unless measured.
    metrics = models.JSONField(_("figures"), default=dict, blank=True)

    class Meta:
        verbose_name = _("know-how effect")
        verbose_name_plural = _("know-how effects")
        ordering = ["know_how_id", "days"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "know_how", "days"],
                condition=models.Q(know_how__isnull=False),
                name="knowhoweffect_one_per_know_how",
            ),
            models.UniqueConstraint(
                fields=["tenant", "days"],
                condition=models.Q(know_how__isnull=True),
                name="knowhoweffect_one_overall",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "know_how"], name="knowhoweffect_tenant_kh")]

    def __str__(self) -> str:
        label = self.know_how or _("All know-how")  # outside the f-string, for xgettext
        return f"{label} ({self.days} d)"
