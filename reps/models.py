from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from partners.models import Partner
from pse_crm.models import TenantOwned


class Rep(TenantOwned):
    """A partner's sales rep (パートナー営業担当者).

    Reps are never deleted while they have history: views and deals protect them. A rep
    who left the partner is kept with ``is_employed=False`` (see docs/domain.md).
    """

    class HireType(models.TextChoices):
        NEW_GRADUATE = "new_graduate", _("New graduate")
        MID_CAREER = "mid_career", _("Mid-career")
        UNKNOWN = "unknown", _("Unknown")

    class Influence(models.TextChoices):
        LOW = "low", _("Low")
        MID = "mid", _("Mid")
        HIGH = "high", _("High")

    partner = models.ForeignKey(
        Partner, on_delete=models.PROTECT, related_name="reps", verbose_name=_("partner")
    )
    name = models.CharField(_("name"), max_length=200)
    # Stored lower-case; unique per tenant, case-insensitively.
    email = models.EmailField(_("email"), blank=True)
    external_id = models.CharField(_("content platform user id"), max_length=100, blank=True)
    salesforce_user_id = models.CharField(_("Salesforce user id"), max_length=18, blank=True)
    title = models.CharField(_("title"), max_length=200, blank=True)
    hire_type = models.CharField(
        _("hire type"), max_length=16, choices=HireType.choices, default=HireType.UNKNOWN
    )
    started_at_partner = models.DateField(_("start date at the partner"), null=True, blank=True)
    influence = models.CharField(
        _("influence inside the partner"),
        max_length=8,
        choices=Influence.choices,
        default=Influence.MID,
    )
    is_employed = models.BooleanField(_("employed"), default=True)
    notes = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("rep")
        verbose_name_plural = _("reps")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                "tenant", Lower("email"), condition=~Q(email=""), name="rep_unique_tenant_email_ci"
            ),
            models.UniqueConstraint(
                fields=["tenant", "external_id"],
                condition=~Q(external_id=""),
                name="rep_unique_tenant_external_id",
            ),
            models.UniqueConstraint(
                fields=["tenant", "salesforce_user_id"],
                condition=~Q(salesforce_user_id=""),
                name="rep_unique_tenant_sf_user_id",
            ),
        ]
        indexes = [
            # A partner's reps, and with ``is_employed`` in the key the pages' live counts
            # of its reps and its employed reps read the index alone (an index-only scan
            # instead of visiting 18,000 rows of the largest partner: bench/pages.py).
            models.Index(
                fields=["tenant", "partner", "is_employed"], name="rep_tenant_partner_employed"
            ),
            models.Index(fields=["tenant", "name"]),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        self.email = (self.email or "").strip().lower()
        super().save(*args, **kwargs)
