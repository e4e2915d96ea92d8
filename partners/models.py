from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from pse_crm.models import TenantOwned


class Partner(TenantOwned):
    """A reseller, agency, SI or referral partner (パートナー / 代理店) of the vendor."""

    class Type(models.TextChoices):
        RESELLER = "reseller", _("Reseller")
        AGENCY = "agency", _("Agency")
        SI = "si", _("System integrator")
        REFERRAL = "referral", _("Referral")

    class Tier(models.TextChoices):
        PLATINUM = "platinum", _("Platinum")
        GOLD = "gold", _("Gold")
        SILVER = "silver", _("Silver")
        REGISTERED = "registered", _("Registered")

    class Status(models.TextChoices):
        ONBOARDING = "onboarding", _("Onboarding")
        ACTIVE = "active", _("Active")
        INACTIVE = "inactive", _("Inactive")

    name = models.CharField(_("name"), max_length=200)
    # The Salesforce Account Id, always stored in 18-character form (see pse_crm.sfid).
    external_id = models.CharField(_("Salesforce Account Id"), max_length=18, blank=True)
    partner_type = models.CharField(
        _("type"), max_length=16, choices=Type.choices, default=Type.RESELLER
    )
    program_tier = models.CharField(
        _("program tier"), max_length=16, choices=Tier.choices, default=Tier.REGISTERED
    )
    competing_products = models.PositiveSmallIntegerField(
        _("competing products"),
        null=True,
        blank=True,
        help_text=_("How many competing products the partner carries."),
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_partners",
        verbose_name=_("vendor-side owner"),
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE
    )
    contract_start = models.DateField(_("contract start"), null=True, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("partner")
        verbose_name_plural = _("partners")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "external_id"],
                condition=~Q(external_id=""),
                name="partner_unique_tenant_external_id",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "name"])]

    def __str__(self) -> str:
        return self.name

    @property
    def email_domains(self) -> list[str]:
        return sorted(d.domain for d in self.domains.all())


class PartnerDomain(TenantOwned):
    """An email domain of a partner's reps: places a new rep by email. One partner a domain."""

    partner = models.ForeignKey(
        Partner, on_delete=models.CASCADE, related_name="domains", verbose_name=_("partner")
    )
    domain = models.CharField(_("email domain"), max_length=253)

    class Meta:
        verbose_name = _("partner email domain")
        verbose_name_plural = _("partner email domains")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "domain"], name="partnerdomain_unique_tenant_domain"
            )
        ]

    def __str__(self) -> str:
        return self.domain

    def save(self, *args, **kwargs):
        self.domain = self.domain.strip().lower().lstrip("@")
        super().save(*args, **kwargs)


class PartnerTotal(TenantOwned):
    """What a partner sold in our category in one calendar month or quarter: the
    denominator of our share of its wallet (シェア). Reported by the partner or estimated.

    A period is a whole calendar month or quarter (``partners.periods``), so two periods of
    one granularity either are the same period or do not overlap: the unique constraint is
    the overlap rule. Written only by ``web.services.partner_totals`` (currencies live above
    this app).
    """

    class Granularity(models.TextChoices):
        MONTH = "month", _("Month")
        QUARTER = "quarter", _("Quarter")

    class Source(models.TextChoices):
        REPORTED = "reported", _("Reported by the partner")
        ESTIMATED = "estimated", _("Estimated")

    partner = models.ForeignKey(
        Partner, on_delete=models.CASCADE, related_name="totals", verbose_name=_("partner")
    )
    granularity = models.CharField(_("granularity"), max_length=8, choices=Granularity.choices)
    period_start = models.DateField(_("period start"))
    period_end = models.DateField(_("period end"))
    total_amount = models.DecimalField(
        _("total sales in our category"), max_digits=18, decimal_places=2, null=True, blank=True
    )
    currency = models.CharField(_("currency"), max_length=3, blank=True)
    deal_count = models.PositiveIntegerField(_("deal count"), null=True, blank=True)
    competing_products = models.PositiveSmallIntegerField(
        _("competing products"), null=True, blank=True
    )
    competing_product_names = models.JSONField(
        _("competing product names"), default=list, blank=True
    )
    source = models.CharField(
        _("source"), max_length=10, choices=Source.choices, default=Source.REPORTED
    )
    note = models.TextField(_("note"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("partner total")
        verbose_name_plural = _("partner totals")
        ordering = ["partner_id", "-period_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "partner", "granularity", "period_start"],
                name="partnertotal_unique_period",
            ),
            models.CheckConstraint(
                condition=Q(period_end__gte=models.F("period_start")),
                name="partnertotal_period_order",
            ),
            models.CheckConstraint(
                condition=Q(total_amount__isnull=True) | Q(total_amount__gte=0),
                name="partnertotal_amount_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(total_amount__isnull=True) | ~Q(currency=""),
                name="partnertotal_amount_has_currency",
            ),
            models.CheckConstraint(
                condition=Q(total_amount__isnull=False) | Q(deal_count__isnull=False),
                name="partnertotal_amount_or_deals",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "granularity", "period_start"])]

    def __str__(self) -> str:
        return f"{self.partner_id} {self.period_start}–{self.period_end}"
