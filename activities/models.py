"""The signals the method runs on: materials, material-view logs and deals."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Cast, Round
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from partners.models import Partner
from pse_crm.models import TenantOwned
from reps.models import Rep


class Material(TenantOwned):
    """A sales material of the vendor (deck, case study, price sheet, video, …)."""

    class Kind(models.TextChoices):
        DECK = "deck", _("Sales deck")
        CASE_STUDY = "case_study", _("Case study")
        PRICE_SHEET = "price_sheet", _("Price sheet")
        QUOTE_TEMPLATE = "quote_template", _("Quote template")
        CONTRACT = "contract", _("Contract")
        VIDEO = "video", _("Video")
        WHITEPAPER = "whitepaper", _("Whitepaper")
        TRAINING = "training", _("Training")
        OTHER = "other", _("Other")

    # Kinds that mean a customer is close to buying (used by deal signals).
    LATE_STAGE_KINDS = (Kind.PRICE_SHEET, Kind.QUOTE_TEMPLATE, Kind.CONTRACT)

    title = models.CharField(_("title"), max_length=300)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.DECK)
    product = models.CharField(_("product"), max_length=120, blank=True)
    external_id = models.CharField(_("external id"), max_length=100, blank=True)
    url = models.URLField(_("URL"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("material")
        verbose_name_plural = _("materials")
        ordering = ["title"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "external_id"],
                condition=~Q(external_id=""),
                name="material_unique_tenant_external_id",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "url"]), models.Index(fields=["tenant", "kind"])]

    def __str__(self) -> str:
        return self.title


class MaterialView(TenantOwned):
    """One opening of a material by a rep (資料閲覧ログ). A replayed event is never a second row."""

    # No single-column indexes on tenant, rep and material: every query is tenant-scoped
    # and (tenant, rep, viewed_at) or (tenant, event_id) serves it; three fewer indexes to
    # maintain on each ingested view.
    # No foreign-key constraints either (migration 0011 of this app): a deferred check per
    # key and row at commit cost a third of an import. Statement-level triggers keep the
    # same guarantee, set-based: an insert or update locks the distinct reps, materials and
    # tenants its rows name (KEY SHARE, as a foreign key does) and fails when one is
    # missing or another tenant's; deleting (or re-keying, or truncating) a rep, a
    # material or a tenant that views still name fails. Both raise IntegrityError.
    tenant = models.ForeignKey(
        "pse_crm.Tenant",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("tenant"),
        editable=False,
        db_index=False,
        db_constraint=False,
    )
    rep = models.ForeignKey(
        Rep,
        on_delete=models.PROTECT,
        related_name="views",
        verbose_name=_("rep"),
        db_index=False,
        db_constraint=False,
    )
    material = models.ForeignKey(
        Material,
        on_delete=models.PROTECT,
        related_name="views",
        verbose_name=_("material"),
        db_index=False,
        db_constraint=False,
    )
    viewed_at = models.DateTimeField(_("viewed at"))
    duration_seconds = models.PositiveIntegerField(_("duration (s)"), default=0)
    source = models.CharField(_("source"), max_length=50, blank=True)
    event_id = models.CharField(_("event id"), max_length=100)
    ingested_at = models.DateTimeField(_("ingested at"), auto_now_add=True)

    class Meta:
        verbose_name = _("material view")
        verbose_name_plural = _("material views")
        ordering = ["-viewed_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "event_id"], name="materialview_unique_tenant_event"
            ),
            # (No CheckConstraint on the duration: PositiveIntegerField has its own.)
        ]
        indexes = [
            models.Index(fields=["tenant", "rep", "viewed_at"]),
            models.Index(fields=["tenant", "viewed_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.rep_id} viewed {self.material_id} at {self.viewed_at:%Y-%m-%d %H:%M}"


# --- roll-ups of the views ------------------------------------------------------------
# Derived from MaterialView. They let the segmentation run count a rep's views and
# distinct materials without reading every view (see segmentation/services/sql.py).
# Each tenant's roll-ups hold exactly its views up to a mark (``ViewRollupMark``, a view
# id): storing new views does not touch them (migration 0015: on the import's data each
# view was nearly its own rep-day and pair, so the upserts cost more than the views), and a
# fold (``activities.services.rollups.view_rollups_fold``, on beat) adds the views above the
# mark and moves it. Below the mark, PostgreSQL's triggers keep them in step with every
# update or delete of views, and with an insert of a view at or below the mark, whatever
# wrote it, in the same transaction. A reader takes the roll-ups and the views above the
# mark together (the run does, in one statement). On SQLite (the demo) there are no
# triggers and they stay empty: nothing reads them there.
# No foreign-key constraints in the database: every row derives from views, whose own keys
# are checked (and which protect their rep and material from deletion). Checking them
# again at commit, per upserted row, took a 10,000-view ingestion from 0.7 s to 1.0 s.
# Not exported with a tenant (``is_derived``): an imported tenant's views are all above its
# mark until a fold. After anything that bypassed the triggers: ``manage.py
# rebuild_view_rollups``.


class _Rollup(TenantOwned):
    """A roll-up row: derived (kept by triggers, not exported with a tenant), keyed by its
    tenant among others, with no index and no database constraint of its own for it."""

    is_derived = True

    tenant = models.ForeignKey(
        "pse_crm.Tenant",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("tenant"),
        editable=False,
        db_index=False,
        db_constraint=False,
    )

    class Meta:
        abstract = True


class _RepViewsRollup(_Rollup):
    """A rep's roll-up row: keyed by tenant and rep among others (no index and no database
    constraint of their own, see above)."""

    rep = models.ForeignKey(
        Rep,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("rep"),
        db_index=False,
        db_constraint=False,
    )

    class Meta:
        abstract = True


class RepViewDay(_RepViewsRollup):
    """How many views a rep made on one UTC calendar day."""

    # Keyed by what identifies the row (no id column, no index of its own for the
    # tenant): one index to maintain per upsert. Day first: the segmentation reads a
    # range of days, and new views land on the latest days (the right edge of the key).
    pk = models.CompositePrimaryKey("tenant", "day", "rep")
    day = models.DateField(_("day (UTC)"))
    views = models.PositiveIntegerField(_("views"))

    class Meta:
        verbose_name = _("views of a rep on a day")
        verbose_name_plural = _("views of reps per day")

    def __str__(self) -> str:
        return f"{self.rep_id} on {self.day}: {self.views}"


class RepMaterialSpan(_RepViewsRollup):
    """The first and the last time a rep viewed one material."""

    pk = models.CompositePrimaryKey("tenant", "rep", "material")
    material = models.ForeignKey(
        Material,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("material"),
        db_index=False,
        db_constraint=False,
    )
    first_viewed_at = models.DateTimeField(_("first viewed at"))
    last_viewed_at = models.DateTimeField(_("last viewed at"))

    class Meta:
        verbose_name = _("views of a material by a rep")
        verbose_name_plural = _("views of materials by reps")

    def __str__(self) -> str:
        return (
            f"{self.rep_id} viewed {self.material_id} {self.first_viewed_at}–{self.last_viewed_at}"
        )


class ViewRollupMark(_Rollup):
    """How far a tenant's views are in its roll-ups: exactly the views whose id is at most
    ``folded_through``. No row: none (a new or imported tenant)."""

    tenant = models.OneToOneField(
        "pse_crm.Tenant",
        on_delete=models.PROTECT,
        primary_key=True,
        related_name="+",
        verbose_name=_("tenant"),
        editable=False,
        db_constraint=False,
    )
    folded_through = models.BigIntegerField(_("folded through view id"))

    class Meta:
        verbose_name = _("roll-up mark of the views")
        verbose_name_plural = _("roll-up marks of the views")

    def __str__(self) -> str:
        return f"{self.tenant_id}: views up to {self.folded_through}"


class Deal(TenantOwned):
    """An opportunity synced from Salesforce. Won is ``IsWon``, never a stage name.

    ``raw_partner_key`` / ``raw_rep_key`` keep the keys as received so that a deal whose
    partner or rep arrives later is linked then. ``system_modstamp`` orders versions.
    """

    sf_id = models.CharField(_("Salesforce Id"), max_length=18)
    name = models.CharField(_("name"), max_length=255, blank=True)
    partner = models.ForeignKey(
        Partner,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="deals",
        verbose_name=_("partner"),
    )
    rep = models.ForeignKey(
        Rep,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="deals",
        verbose_name=_("rep"),
    )
    amount = models.DecimalField(
        _("amount"), max_digits=18, decimal_places=2, null=True, blank=True
    )
    currency = models.CharField(_("currency"), max_length=3, default="JPY")
    # ``amount`` in the tenant's corporate currency: Salesforce's own conversion
    # (``sf_converted_amount``, from ``convertCurrency(Amount)``) when sent, else
    # amount ÷ rate (activities.services.currencies). Null when there is no amount or
    # its currency has no rate: such a deal is counted as unconverted, never summed raw.
    amount_corporate = models.DecimalField(
        _("amount (corporate currency)"), max_digits=18, decimal_places=2, null=True, blank=True
    )
    sf_converted_amount = models.DecimalField(
        _("converted amount as received"), max_digits=18, decimal_places=2, null=True, blank=True
    )
    # ``amount_corporate`` in hundredths, kept by the database (a stored generated column):
    # the segmentation sums integers, exactly, without turning each deal's numeric into
    # cents in every run (the figures: ``segmentation.services.segments``). ROUND because
    # SQLite holds the amounts as floats (0.57 × 100 is 56.999…); on PostgreSQL a numeric
    # of two places times 100 is already whole.
    amount_corporate_cents = models.GeneratedField(
        expression=Cast(Round(F("amount_corporate") * 100), models.BigIntegerField()),
        output_field=models.BigIntegerField(null=True),
        db_persist=True,
        verbose_name=_("amount (corporate currency) in hundredths"),
    )
    stage = models.CharField(_("stage"), max_length=80, blank=True)
    is_closed = models.BooleanField(_("closed"), default=False)
    is_won = models.BooleanField(_("won"), default=False)
    close_date = models.DateField(_("close date"), null=True, blank=True)
    sf_created_at = models.DateTimeField(_("Salesforce created"), null=True, blank=True)
    sf_last_modified_at = models.DateTimeField(_("Salesforce last modified"), null=True, blank=True)
    system_modstamp = models.DateTimeField(_("SystemModstamp"))
    # The version of each field older than ``system_modstamp`` (a partial record set the
    # others): {attribute: ISO time, or null when only the default is stored}. An older
    # version that arrives late still fills in what no newer one carried (deal_sync).
    field_stamps = models.JSONField(_("field versions"), default=dict, db_default={}, blank=True)
    is_deleted = models.BooleanField(_("deleted"), default=False)
    raw_partner_key = models.CharField(_("partner key as received"), max_length=255, blank=True)
    raw_rep_key = models.CharField(_("rep key as received"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("stored"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("deal")
        verbose_name_plural = _("deals")
        ordering = ["-system_modstamp"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "sf_id"], name="deal_unique_tenant_sf_id"),
        ]
        indexes = [
            models.Index(fields=["tenant", "rep", "is_won", "close_date"]),
            models.Index(fields=["tenant", "partner", "close_date"]),
            models.Index(fields=["tenant", "system_modstamp"]),
            models.Index(
                fields=["tenant", "raw_partner_key"],
                condition=Q(partner__isnull=True),
                name="deal_unlinked_partner",
            ),
            models.Index(
                fields=["tenant", "raw_rep_key"],
                condition=Q(rep__isnull=True),
                name="deal_unlinked_rep",
            ),
            # The pages' share-of-wallet sums (won deals of a partner by close date)
            # answered from the index alone: an index-only scan instead of reading most
            # of the table at 200,000 deals (bench/pages.py, docs/performance.md).
            models.Index(
                fields=["tenant", "partner", "close_date"],
                include=["amount_corporate", "amount"],
                condition=Q(is_won=True, is_deleted=False),
                name="deal_won_by_partner_close",
            ),
            # Deals with an amount but no corporate amount: normally none, so the index
            # is nearly free to keep and the pages' "unconverted" count needs no scan.
            models.Index(
                fields=["tenant", "currency"],
                condition=Q(amount__isnull=False, amount_corporate__isnull=True, is_deleted=False),
                name="deal_unconverted",
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.sf_id


# A deal with an amount that has no corporate amount (its currency has no rate): counted as
# unconverted and shown as such, never summed raw (activities.services.currencies).
DEAL_UNCONVERTED = Q(amount__isnull=False, amount_corporate__isnull=True)


def validate_salesforce_field(value: str) -> None:
    """A Salesforce field API name, or a relationship path such as ``Owner.Email``."""
    import re

    from django.core.exceptions import ValidationError

    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*", value or ""):
        raise ValidationError(
            _("%(value)s is not a Salesforce field name."), params={"value": value}
        )


# --- roll-up of the won deals -----------------------------------------------------------
# Derived from Deal as the views' roll-ups are from MaterialView (see above): kept in step
# by PostgreSQL statement triggers (migration 0014 of this app) whatever writes the deals,
# empty on SQLite (the demo), where the share of wallet reads the deals themselves. Sums
# only, so each statement adds its new rows and subtracts its old ones (each key's row
# lock orders the additions); a tenant's deal writers take turns, so that they never
# deadlock on these rows.


class PartnerWonMonth(_Rollup):
    """The won, undeleted deals of a partner closing in one month of the tenant's calendar
    (a deal's close date is a local date): what the share of wallet sums per period,
    since every period is a whole number of months. A key whose deals are all gone has no
    row."""

    pk = models.CompositePrimaryKey("tenant", "partner", "month")
    # The deals protect their partner; a roll-up row never outlives its deals.
    partner = models.ForeignKey(
        Partner,
        on_delete=models.DO_NOTHING,
        related_name="+",
        verbose_name=_("partner"),
        db_index=False,
        db_constraint=False,
    )
    month = models.DateField(_("month (its first day)"))
    # SUM(amount_corporate): the converted deals only, as the pages sum them.
    won_amount = models.DecimalField(_("won amount"), max_digits=24, decimal_places=2)
    won_deals = models.BigIntegerField(_("won deals"))
    # Won deals with an amount but no corporate amount (DEAL_UNCONVERTED).
    won_unconverted = models.BigIntegerField(_("won deals unconverted"))

    class Meta:
        verbose_name = _("won deals of a partner in a month")
        verbose_name_plural = _("won deals of partners per month")

    def __str__(self) -> str:
        return f"{self.partner_id} in {self.month:%Y-%m}: {self.won_deals}"


class SyncSettings(TenantOwned):
    """How a tenant's Salesforce opportunities name their partner and their rep (one a tenant).

    With no row, the defaults apply: the partner is ``PartnerAccountId`` (matched to
    ``Partner.external_id``) and the rep is ``OwnerId`` (matched to ``Rep.salesforce_user_id``).
    """

    class RepMatch(models.TextChoices):
        SALESFORCE_USER_ID = "salesforce_user_id", _("Salesforce user id of the rep")
        EMAIL = "email", _("Email of the rep")

    partner_field = models.CharField(
        _("partner field"),
        max_length=120,
        default="PartnerAccountId",
        validators=[validate_salesforce_field],
        help_text=_("The Opportunity field holding the partner's Salesforce Account Id."),
    )
    rep_field = models.CharField(
        _("rep field"),
        max_length=120,
        default="OwnerId",
        validators=[validate_salesforce_field],
        help_text=_("The Opportunity field identifying the partner rep."),
    )
    rep_match = models.CharField(
        _("rep matched by"),
        max_length=24,
        choices=RepMatch.choices,
        default=RepMatch.SALESFORCE_USER_ID,
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("Salesforce sync settings")
        verbose_name_plural = _("Salesforce sync settings")
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="syncsettings_unique_tenant"),
        ]

    def __str__(self) -> str:
        return f"{self.partner_field} / {self.rep_field} ({self.rep_match})"


class CurrencyRate(TenantOwned):
    """A Salesforce ``CurrencyType``: ``conversion_rate`` units of ``iso_code`` per one
    unit of the tenant's corporate currency (an amount converts as amount ÷ rate)."""

    iso_code = models.CharField(_("ISO code"), max_length=3)
    conversion_rate = models.DecimalField(_("conversion rate"), max_digits=24, decimal_places=9)
    is_corporate = models.BooleanField(_("corporate"), default=False)
    is_active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("currency rate")
        verbose_name_plural = _("currency rates")
        ordering = ["iso_code"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "iso_code"], name="currency_rate_unique"),
            models.CheckConstraint(
                condition=Q(conversion_rate__gt=0), name="currency_rate_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.iso_code} {self.conversion_rate}"


class DatedCurrencyRate(TenantOwned):
    """A Salesforce ``DatedConversionRate``: wins over the ``CurrencyRate`` for close dates
    in [``start_date``, ``next_start_date``)."""

    iso_code = models.CharField(_("ISO code"), max_length=3)
    conversion_rate = models.DecimalField(_("conversion rate"), max_digits=24, decimal_places=9)
    start_date = models.DateField(_("start date"))
    next_start_date = models.DateField(_("next start date"))
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("dated currency rate")
        verbose_name_plural = _("dated currency rates")
        ordering = ["iso_code", "start_date"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "iso_code", "start_date"], name="dated_currency_rate_unique"
            ),
            models.CheckConstraint(
                condition=Q(conversion_rate__gt=0), name="dated_currency_rate_positive"
            ),
            models.CheckConstraint(
                condition=Q(next_start_date__gt=models.F("start_date")),
                name="dated_currency_rate_range",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "iso_code", "start_date", "next_start_date"])]

    def __str__(self) -> str:
        return f"{self.iso_code} {self.conversion_rate} from {self.start_date}"


class DealResync(TenantOwned):
    """An Opportunity id whose changes were lost in transit (a Change Data Capture
    ``GAP_*`` or ``GAP_OVERFLOW`` event): it must be fetched again in full."""

    sf_id = models.CharField(_("Salesforce Id"), max_length=18)
    reason = models.CharField(_("reason"), max_length=40)
    noted_at = models.DateTimeField(_("noted"), auto_now=True)

    class Meta:
        verbose_name = _("deal to resync")
        verbose_name_plural = _("deals to resync")
        ordering = ["noted_at"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "sf_id"], name="deal_resync_unique"),
        ]

    def __str__(self) -> str:
        return self.sf_id


class SalesforceConnection(TenantOwned):
    """A tenant's Salesforce org, reached with the OAuth 2.0 client credentials flow.

    ``client_secret_encrypted`` is a Fernet token (``FIELD_ENCRYPTION_KEY``); the secret
    is never shown again. One connection per tenant."""

    instance_url = models.URLField(_("instance URL"), max_length=255)
    client_id = models.CharField(_("client id"), max_length=255)
    client_secret_encrypted = models.TextField(_("client secret (encrypted)"))
    api_version = models.CharField(_("API version"), max_length=8, default="62.0")
    org_id = models.CharField(_("organisation id"), max_length=18, blank=True)
    is_multicurrency = models.BooleanField(_("multi-currency org"), null=True, blank=True)
    watermark = models.DateTimeField(_("pulled up to (SystemModstamp)"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    connected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("connected by"),
    )
    created_at = models.DateTimeField(_("connected"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("Salesforce connection")
        verbose_name_plural = _("Salesforce connections")
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="salesforce_connection_one"),
        ]

    def __str__(self) -> str:
        return self.instance_url


class SalesforcePullRun(TenantOwned):
    """One pull (incremental or full) or nightly reconciliation against Salesforce."""

    class Kind(models.TextChoices):
        INCREMENTAL = "incremental", _("Incremental pull")
        FULL = "full", _("Full pull")
        RECONCILE = "reconcile", _("Reconciliation")

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.RUNNING
    )
    trigger = models.CharField(_("trigger"), max_length=20, blank=True)
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    records = models.PositiveIntegerField(_("records"), default=0)
    pages = models.PositiveIntegerField(_("pages"), default=0)
    watermark_before = models.DateTimeField(_("watermark before"), null=True, blank=True)
    watermark_after = models.DateTimeField(_("watermark after"), null=True, blank=True)
    # Reconciliation: stored deals Salesforce no longer has, soft-deleted by this run.
    soft_deleted = models.PositiveIntegerField(_("soft-deleted"), default=0)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("Salesforce pull")
        verbose_name_plural = _("Salesforce pulls")
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["tenant", "-started_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.started_at:%Y-%m-%d %H:%M}"
