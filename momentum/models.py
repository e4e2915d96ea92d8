"""Weekly momentum (モメンタム) per partner and for the whole tenant."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from partners.models import Partner
from pse_crm.models import TenantOwned


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
        # Moved here from the enablement app; the table keeps its name.
        db_table = "enablement_momentumsnapshot"
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
        label = self.partner or _("All partners")  # outside the f-string, for xgettext
        return f"{label} {self.iso_year}-W{self.iso_week:02d}"
