"""Keyman segmentation: views × results per rep, four quadrants, 2:6:2 tiers per partner.

A ``SegmentationRun`` is one computation for one tenant at one moment (``as_of``). Its
``RepSegment`` and ``PartnerSegment`` rows are written completely and the run becomes
current in the same transaction, so a reader sees the previous complete run or the new
complete one, never a half. ``is_current`` marks the one run readers use (at most one per
tenant, enforced by a partial unique index).

Edge cases, decided (the full list is in the docstrings of segmentation/services/
segments.py, statistics.py and runs.py):

* one meaning of activity: a rep is *active* with a view in the view window, a won deal in
  the results window or a deal created in the view window (an old open deal alone is not
  activity); ``dormant`` is exactly the reps who are not active, and an active rep below
  both cut-offs is ``casual``, so no rep is active and dormant at once;
* reps who left the partner (``Rep.is_employed=False``) are not segmented; their past
  segments stay in the history of older runs;
* deleted deals never count;
* a partner with fewer reps than ``min_reps_for_tiers`` gets no tiers (``tier`` is null).
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from partners.models import Partner
from pse_crm.models import Tenant, TenantOwned
from reps.models import Rep

__all__ = [
    "CutoffRule",
    "PartnerSegment",
    "Quadrant",
    "RepSegment",
    "SegmentationRun",
    "SegmentationSettings",
    "Tier",
]

MAX_WINDOW_DAYS = 3650


class Quadrant(models.TextChoices):
    """Views × results. Keyman ① is ``performer``; keyman ② is ``motivated``.

    The low/low cell holds two kinds of rep: ``casual`` (active, but below both cut-offs:
    a casual look, a deal opened, a small win) and ``dormant`` (no activity at all).
    """

    PERFORMER = "performer", _("Performer (keyman ①)")
    MOTIVATED = "motivated", _("Motivated (keyman ②)")
    INDEPENDENT = "independent", _("Independent")
    CASUAL = "casual", _("Casual (active, below both cut-offs)")
    DORMANT = "dormant", _("Dormant")


# Short names for badges in narrow table cells (the full label is the badge's title).
QUADRANT_SHORT = {
    Quadrant.PERFORMER: _("Keyman ①"),
    Quadrant.MOTIVATED: _("Keyman ②"),
    Quadrant.INDEPENDENT: _("Independent"),
    Quadrant.CASUAL: _("Casual"),
    Quadrant.DORMANT: _("Dormant"),
}


class Tier(models.TextChoices):
    """2:6:2 inside one partner: a relative ratio, not a judgement. Ties share a tier, so
    a tier's actual share is shown beside it (ties at zero fill the bottom)."""

    TOP = "top", _("Top")
    MIDDLE = "middle", _("Middle")
    BOTTOM = "bottom", _("Bottom")


class CutoffRule(models.TextChoices):
    """Which rule chose a run's cut-off on one axis (see segmentation/cutoffs.py)."""

    MEDIAN = "median", _("median")
    FLOOR = "floor", _("floor")
    ANY = "any", _("any result")
    THRESHOLD = "threshold", _("fixed threshold")


class SegmentationSettings(TenantOwned):
    """The tenant's segmentation and quick-win settings: one row per tenant.

    A tenant without a row uses the defaults (``SegmentationSettings.defaults_for``).
    Owners and managers edit it.
    """

    class ResultsMeasure(models.TextChoices):
        WON_AMOUNT = "won_amount", _("Won amount")
        WON_DEALS = "won_deals", _("Won deal count")

    class HighRule(models.TextChoices):
        MEDIAN = "median", _("Above the median of the reps with any (views or results)")
        THRESHOLD = "threshold", _("At or above a fixed threshold")

    class TierMeasure(models.TextChoices):
        SCORE = "score", _("Score (views and results)")
        VIEWS = "views", _("Material views")
        RESULTS = "results", _("Results")

    view_window_days = models.PositiveIntegerField(
        _("view window (days)"),
        default=90,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_WINDOW_DAYS)],
        help_text=_("Material views counted: the last N days before the run."),
    )
    results_window_days = models.PositiveIntegerField(
        _("results window (days)"),
        default=365,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_WINDOW_DAYS)],
        help_text=_("Won deals counted: closed in the last N days before the run."),
    )
    results_measure = models.CharField(
        _("results measure"),
        max_length=16,
        choices=ResultsMeasure.choices,
        default=ResultsMeasure.WON_AMOUNT,
    )
    views_high_rule = models.CharField(
        _("high views means"), max_length=16, choices=HighRule.choices, default=HighRule.MEDIAN
    )
    views_threshold = models.PositiveIntegerField(
        _("views threshold"),
        default=10,
        validators=[MinValueValidator(1)],
        help_text=_("With the fixed-threshold rule: at least this many views is high."),
    )
    views_floor = models.PositiveIntegerField(
        _("views floor"),
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(100000)],
        help_text=_(
            "With the median rule: the fewest views in the window that count as motivated,"
            " however low the median."
        ),
    )
    results_median_min_reps = models.PositiveIntegerField(
        _("reps with results before the median applies"),
        default=20,
        validators=[MinValueValidator(1), MaxValueValidator(100000)],
        help_text=_(
            "With the median rule: while fewer reps than this have results, any result is"
            " high; from this many on, more than their median is."
        ),
    )
    results_high_rule = models.CharField(
        _("high results means"), max_length=16, choices=HighRule.choices, default=HighRule.MEDIAN
    )
    results_threshold = models.DecimalField(
        _("results threshold"),
        max_digits=18,
        decimal_places=2,
        default=Decimal("1"),
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text=_(
            "With the fixed-threshold rule: at least this much (won amount or won deals) is high."
        ),
    )
    tier_measure = models.CharField(
        _("tier measure"), max_length=16, choices=TierMeasure.choices, default=TierMeasure.SCORE
    )
    min_reps_for_tiers = models.PositiveIntegerField(
        _("minimum reps for 2:6:2 tiers"),
        default=5,
        validators=[MinValueValidator(2), MaxValueValidator(10000)],
        help_text=_("A partner with fewer employed reps gets no tiers."),
    )
    quick_win_days = models.PositiveIntegerField(
        _("quick-win window (days)"),
        default=60,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_WINDOW_DAYS)],
        help_text=_("A won deal within this many days of support starting is a quick win."),
    )
    run_retention_days = models.PositiveIntegerField(
        _("keep segmentation runs (days)"),
        default=180,
        validators=[MinValueValidator(7), MaxValueValidator(MAX_WINDOW_DAYS)],
        help_text=_("Older runs are deleted every night; the current run is always kept."),
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("updated by"),
    )

    # The fields copied into every run, so a run always says how it was computed.
    SNAPSHOT_FIELDS = (
        "view_window_days",
        "results_window_days",
        "results_measure",
        "views_high_rule",
        "views_threshold",
        "views_floor",
        "results_high_rule",
        "results_threshold",
        "results_median_min_reps",
        "tier_measure",
        "min_reps_for_tiers",
    )

    # What owners and managers edit (the settings page and the API share this list).
    EDITABLE_FIELDS = (*SNAPSHOT_FIELDS, "quick_win_days", "run_retention_days")

    class Meta:
        # Moved here from the enablement app; the table keeps its name.
        db_table = "enablement_segmentationsettings"
        verbose_name = _("segmentation settings")
        verbose_name_plural = _("segmentation settings")
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="segmentationsettings_one_per_tenant"),
            models.CheckConstraint(
                condition=Q(view_window_days__gte=1, view_window_days__lte=MAX_WINDOW_DAYS),
                name="segmentationsettings_view_window_range",
            ),
            models.CheckConstraint(
                condition=Q(results_window_days__gte=1, results_window_days__lte=MAX_WINDOW_DAYS),
                name="segmentationsettings_results_window_range",
            ),
            models.CheckConstraint(
                condition=Q(min_reps_for_tiers__gte=2),
                name="segmentationsettings_min_reps_at_least_2",
            ),
        ]

    def __str__(self) -> str:
        return str(_("Segmentation settings"))

    def clean(self) -> None:
        super().clean()
        errors: dict[str, str] = {}
        if self.views_high_rule == self.HighRule.THRESHOLD and (self.views_threshold or 0) < 1:
            errors["views_threshold"] = _("A views threshold must be at least 1.")
        if self.results_high_rule == self.HighRule.THRESHOLD and (
            self.results_threshold is None or self.results_threshold <= 0
        ):
            errors["results_threshold"] = _("A results threshold must be more than zero.")
        if (
            self.results_measure == self.ResultsMeasure.WON_DEALS
            and self.results_high_rule == self.HighRule.THRESHOLD
            and self.results_threshold is not None
            and self.results_threshold != self.results_threshold.to_integral_value()
        ):
            errors["results_threshold"] = _(
                "With won deal count as the results measure, the threshold is a whole number."
            )
        if errors:
            raise ValidationError(errors)

    def snapshot(self) -> dict:
        """The settings as JSON-safe values, as stored on a run."""
        out = {}
        for name in self.SNAPSHOT_FIELDS:
            value = getattr(self, name)
            out[name] = str(value) if isinstance(value, Decimal) else value
        return out


class SegmentationRun(TenantOwned):
    """One segmentation of one tenant as of one moment, with what it found."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        SKIPPED = "skipped", _("Skipped (another run was in progress)")

    class Trigger(models.TextChoices):
        NIGHTLY = "nightly", _("Nightly")
        MANUAL = "manual", _("On demand")
        COMMAND = "command", _("Management command")

    as_of = models.DateTimeField(_("as of"))
    # The tenant-local date of ``as_of``: the nightly run is idempotent per this day.
    as_of_date = models.DateField(_("as-of day"))
    trigger = models.CharField(
        _("trigger"), max_length=16, choices=Trigger.choices, default=Trigger.MANUAL
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("requested by"),
    )
    settings_used = models.JSONField(_("settings used"), default=dict, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    is_current = models.BooleanField(_("current"), default=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), null=True, blank=True)
    rep_count = models.PositiveIntegerField(_("reps"), default=0)
    # Every segment of the run carries its ``RepSegment.position`` (set by the run that
    # writes them; the migration that added the column ranked the runs before it).
    segments_ranked = models.BooleanField(
        _("segments ranked"), default=False, db_default=False, editable=False
    )
    active_rep_count = models.PositiveIntegerField(_("active reps"), default=0)
    # {"performer": n, "motivated": n, "independent": n, "dormant": n}
    quadrant_counts = models.JSONField(_("reps per quadrant"), default=dict, blank=True)
    # {"top": n, "middle": n, "bottom": n, "untiered": n}
    tier_counts = models.JSONField(_("reps per tier"), default=dict, blank=True)
    # The cut-offs used for "high" on each axis: the value, the rule that chose it, the
    # reps behind it (with any views / any results) and their median (segmentation/cutoffs.py).
    views_cutoff = models.DecimalField(
        _("views cut-off"), max_digits=20, decimal_places=4, null=True, blank=True
    )
    views_cutoff_rule = models.CharField(
        _("views cut-off rule"), max_length=16, choices=CutoffRule.choices, blank=True
    )
    views_cutoff_n = models.PositiveIntegerField(_("reps with views"), null=True, blank=True)
    views_median = models.DecimalField(
        _("median views of reps with views"), max_digits=20, decimal_places=4, null=True, blank=True
    )
    results_cutoff = models.DecimalField(
        _("results cut-off"), max_digits=20, decimal_places=4, null=True, blank=True
    )
    results_cutoff_rule = models.CharField(
        _("results cut-off rule"), max_length=16, choices=CutoffRule.choices, blank=True
    )
    results_cutoff_n = models.PositiveIntegerField(_("reps with results"), null=True, blank=True)
    results_median = models.DecimalField(
        _("median results of reps with results"),
        max_digits=20,
        decimal_places=4,
        null=True,
        blank=True,
    )
    # The first-performer playbook: partners without a keyman ①, and the median days from
    # a partner's first flagged run to its first run with one (over the partners that got one).
    partners_without_performer = models.PositiveIntegerField(
        _("partners without a keyman ①"), default=0
    )
    first_performer_median_days = models.FloatField(
        _("median days to a first keyman ①"), null=True, blank=True
    )
    first_performer_partners = models.PositiveIntegerField(
        _("partners that gained a first keyman ①"), default=0
    )
    # Spearman rank correlation of views and results over the tenant's reps.
    # Correlation, not causation.
    correlation_n = models.PositiveIntegerField(_("n"), null=True, blank=True)
    correlation_rho = models.FloatField(_("Spearman ρ"), null=True, blank=True)
    correlation_p_value = models.FloatField(_("p-value"), null=True, blank=True)
    correlation_ci_low = models.FloatField(_("95% CI low"), null=True, blank=True)
    correlation_ci_high = models.FloatField(_("95% CI high"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        # Moved here from the enablement app; the table keeps its name.
        db_table = "enablement_segmentationrun"
        verbose_name = _("segmentation run")
        verbose_name_plural = _("segmentation runs")
        ordering = ["-as_of", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant"],
                condition=Q(is_current=True),
                name="segmentationrun_one_current_per_tenant",
            ),
            models.UniqueConstraint(
                fields=["tenant", "as_of_date"],
                condition=Q(trigger="nightly", status="succeeded"),
                name="segmentationrun_one_nightly_per_day",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "status", "as_of_date"]),
            models.Index(fields=["tenant", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.as_of:%Y-%m-%d %H:%M} ({self.get_status_display()})"


class RepSegment(TenantOwned):
    """One rep in one run: their figures, quadrant, tier and where they were last run.

    Derived rows, written only by the segmentation's one ``INSERT … SELECT``, which takes
    every id from the rows it joins in the same statement. So the foreign keys carry no
    database constraint (``db_constraint=False``): checking four keys per row at commit
    would double the run's time for 50,000 reps. Deletes still cascade (Django does it),
    and row-level security still walls the tenant. Every index costs every run 50,000
    inserts, so there are two: the primary key and ``(run, rep)`` (unique; the run writes
    its rows in rep order, so both take them as appends). It serves a rep's history (one
    probe per kept run), a cascade from a run (its prefix) and a partner's reps (the
    partner's reps first, then one probe each: ``rep_segments_of_partner``). A run
    belongs to one tenant, so the tenant adds nothing to the key.
    """

    tenant = models.ForeignKey(
        Tenant,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("tenant"),
        editable=False,
        db_constraint=False,
        db_index=False,
    )
    run = models.ForeignKey(
        SegmentationRun,
        on_delete=models.CASCADE,
        related_name="rep_segments",
        verbose_name=_("run"),
        db_constraint=False,
        # The unique (run, rep) index leads with the run: it serves the cascades too.
        db_index=False,
    )
    rep = models.ForeignKey(
        Rep,
        on_delete=models.CASCADE,
        related_name="segments",
        verbose_name=_("rep"),
        db_constraint=False,
        db_index=False,
    )
    # The rep's partner at the time of the run.
    partner = models.ForeignKey(
        Partner,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("partner"),
        db_constraint=False,
        db_index=False,
    )
    views = models.PositiveIntegerField(_("views in window"), default=0)
    distinct_materials = models.PositiveIntegerField(_("distinct materials viewed"), default=0)
    last_viewed_at = models.DateTimeField(_("last view"), null=True, blank=True)
    won_amount = models.DecimalField(
        _("won amount in window"), max_digits=18, decimal_places=2, default=0
    )
    won_deals = models.PositiveIntegerField(_("won deals in window"), default=0)
    open_pipeline_amount = models.DecimalField(
        _("open pipeline"), max_digits=18, decimal_places=2, default=0
    )
    open_deals = models.PositiveIntegerField(_("open deals"), default=0)
    created_deals = models.PositiveIntegerField(_("deals created in view window"), default=0)
    is_active = models.BooleanField(_("active"), default=False)
    quadrant = models.CharField(_("quadrant"), max_length=16, choices=Quadrant.choices)
    tier = models.CharField(_("tier"), max_length=8, choices=Tier.choices, null=True, blank=True)
    score = models.FloatField(_("score"), default=0)
    # The rep's place in the run's default order (score, highest first, then the rep id),
    # from 0: written by the run beside the score, so a deep page of that order sorts one
    # integer per row instead of a float and a key (``SegmentationRun.segments_ranked``
    # says a run's rows carry it; null in rows made otherwise).
    position = models.PositiveIntegerField(_("place in the run"), null=True, editable=False)
    previous_quadrant = models.CharField(
        _("previous quadrant"), max_length=16, choices=Quadrant.choices, null=True, blank=True
    )
    previous_tier = models.CharField(
        _("previous tier"), max_length=8, choices=Tier.choices, null=True, blank=True
    )

    class Meta:
        # Moved here from the enablement app; the table keeps its name.
        db_table = "enablement_repsegment"
        verbose_name = _("rep segment")
        verbose_name_plural = _("rep segments")
        ordering = ["-score", "rep_id"]
        constraints = [
            # Leads with the run, so a run's inserts land in one new range of the index;
            # a rep's history probes it once per kept run.
            models.UniqueConstraint(fields=["run", "rep"], name="repsegment_unique_run_rep"),
        ]

    def __str__(self) -> str:
        return f"{self.rep_id}: {self.get_quadrant_display()}"

    @property
    def quadrant_short(self) -> str:
        return str(QUADRANT_SHORT.get(self.quadrant, self.get_quadrant_display()))

    @property
    def previous_quadrant_short(self) -> str:
        if not self.previous_quadrant:
            return ""
        return str(QUADRANT_SHORT.get(self.previous_quadrant, self.get_previous_quadrant_display()))

    @property
    def moved(self) -> bool:
        """The quadrant changed since the previous run (a new rep has not moved)."""
        return self.previous_quadrant is not None and self.previous_quadrant != self.quadrant


class PartnerSegment(TenantOwned):
    """One partner in one run: reps, activation (the 1% resource problem), keymen, results."""

    run = models.ForeignKey(
        SegmentationRun,
        on_delete=models.CASCADE,
        related_name="partner_segments",
        verbose_name=_("run"),
    )
    partner = models.ForeignKey(
        Partner, on_delete=models.CASCADE, related_name="segments", verbose_name=_("partner")
    )
    reps = models.PositiveIntegerField(_("reps"), default=0)
    active_reps = models.PositiveIntegerField(_("active reps"), default=0)
    activation_rate = models.FloatField(_("activation rate"), default=0)
    performers = models.PositiveIntegerField(_("keyman ① (performers)"), default=0)
    motivated = models.PositiveIntegerField(_("keyman ② (motivated)"), default=0)
    independents = models.PositiveIntegerField(_("independents"), default=0)
    casual = models.PositiveIntegerField(_("casual"), default=0)
    dormant = models.PositiveIntegerField(_("dormant"), default=0)
    views = models.PositiveIntegerField(_("views in window"), default=0)
    won_amount = models.DecimalField(
        _("won amount in window"), max_digits=18, decimal_places=2, default=0
    )
    won_deals = models.PositiveIntegerField(_("won deals in window"), default=0)
    is_tiered = models.BooleanField(_("tiered"), default=False)
    # 2:6:2 inside the partner (all zero when the partner is too small to be tiered).
    top_reps = models.PositiveIntegerField(_("top tier"), default=0)
    middle_reps = models.PositiveIntegerField(_("middle tier"), default=0)
    bottom_reps = models.PositiveIntegerField(_("bottom tier"), default=0)
    # The first-performer playbook: no keyman ① among the partner's reps yet, and its most
    # motivated reps (most views in the window, then the latest view; at most five) as the
    # candidates for intensive support.
    needs_first_performer = models.BooleanField(_("needs a first keyman ①"), default=False)
    first_performer_candidates = models.JSONField(
        _("first-performer candidates"), default=list, blank=True
    )
    # The partner's first reps in the run's default order (by ``RepSegment.position``; at
    # most ``segments.FIRST_LISTED``, all of them for a smaller partner): the partner
    # page's first page reads their segments instead of sorting the run's. Empty in rows
    # written before it.
    first_listed_reps = models.JSONField(
        _("first reps listed"), default=list, db_default=[], blank=True, editable=False
    )
    # Carried from run to run: the as-of day of the first run that flagged the partner, of
    # its first run with a keyman ① after that, and the days between.
    first_flagged_on = models.DateField(_("first flagged"), null=True, blank=True)
    first_performer_on = models.DateField(_("first keyman ①"), null=True, blank=True)
    days_to_first_performer = models.PositiveIntegerField(
        _("days to a first keyman ①"), null=True, blank=True
    )
    # Only for partners with at least 10 reps. Correlation, not causation.
    correlation_n = models.PositiveIntegerField(_("n"), null=True, blank=True)
    correlation_rho = models.FloatField(_("Spearman ρ"), null=True, blank=True)
    correlation_p_value = models.FloatField(_("p-value"), null=True, blank=True)
    correlation_ci_low = models.FloatField(_("95% CI low"), null=True, blank=True)
    correlation_ci_high = models.FloatField(_("95% CI high"), null=True, blank=True)

    class Meta:
        # Moved here from the enablement app; the table keeps its name.
        db_table = "enablement_partnersegment"
        verbose_name = _("partner segment")
        verbose_name_plural = _("partner segments")
        ordering = ["-active_reps", "partner_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "run", "partner"], name="partnersegment_unique_tenant_run_partner"
            ),
        ]
        indexes = [models.Index(fields=["tenant", "partner", "run"])]

    def __str__(self) -> str:
        return f"{self.partner_id} in run {self.run_id}"

    def tier_share(self, tier: str | None) -> float | None:
        """The share of the partner's tiered reps in ``tier`` (0..1); None when untiered."""
        total = self.top_reps + self.middle_reps + self.bottom_reps
        if not self.is_tiered or not total or tier is None:
            return None
        count = {"top": self.top_reps, "middle": self.middle_reps, "bottom": self.bottom_reps}
        return count.get(tier, 0) / total
