"""API representations of materials, material views, deals and deal sync."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from activities.models import Deal, Material, MaterialView

MATERIAL_FIELDS = [
    "id",
    "title",
    "kind",
    "product",
    "external_id",
    "url",
    "created_at",
    "updated_at",
]


class MaterialSerializer(serializers.ModelSerializer):
    class Meta:
        model = Material
        fields = MATERIAL_FIELDS
        read_only_fields = ["id", "created_at", "updated_at"]

    def validate_external_id(self, value: str) -> str:
        if value:
            clash = Material.objects.filter(external_id=value)
            if self.instance is not None:
                clash = clash.exclude(pk=self.instance.pk)
            if clash.exists():
                raise serializers.ValidationError(_("A material with this external id exists."))
        return value


class MaterialBulkRecordSerializer(serializers.ModelSerializer):
    """One record of ``POST materials/bulk``: matched by ``external_id``; omitted fields keep
    their stored value (or the default, for a new material)."""

    external_id = serializers.CharField(max_length=100, help_text=_("The key of the upsert."))

    class Meta:
        model = Material
        fields = [f for f in MATERIAL_FIELDS if f not in ("id", "created_at", "updated_at")]


class MaterialViewSerializer(serializers.ModelSerializer):
    partner = serializers.IntegerField(source="rep.partner_id", read_only=True)

    class Meta:
        model = MaterialView
        fields = [
            "id",
            "event_id",
            "rep",
            "partner",
            "material",
            "viewed_at",
            "duration_seconds",
            "source",
            "ingested_at",
        ]
        read_only_fields = fields


class MaterialViewEventSerializer(serializers.Serializer):
    """One event of ``POST material-views/`` (a JSON array of these, or CSV with these columns).

    The rep is named by ``rep_external_id`` or ``rep_email`` (an unknown email whose domain
    belongs to a partner creates the rep); the material by ``material_external_id`` or
    ``material_url``. A naive ``viewed_at`` is read in the tenant's time zone and must fall
    in the years 1 to 9999 in UTC. The ids and keys are strings (or whole numbers with
    ``|n| < 2**63``) without control characters; no field may hold a NUL or a lone
    surrogate. A bad event is a 400 naming its index and field (``material_views_ingest``).
    """

    event_id = serializers.CharField(max_length=100)
    viewed_at = serializers.DateTimeField()
    rep_external_id = serializers.CharField(required=False)
    rep_email = serializers.EmailField(required=False)
    rep_name = serializers.CharField(required=False)
    material_external_id = serializers.CharField(required=False)
    material_url = serializers.URLField(required=False)
    duration_seconds = serializers.IntegerField(required=False, min_value=0)


class MaterialViewIngestResultSerializer(serializers.Serializer):
    created = serializers.IntegerField(help_text=_("Events stored."))
    duplicates = serializers.IntegerField(help_text=_("Replayed events already stored."))
    reps_created = serializers.IntegerField(help_text=_("Reps created from email domains."))


class DealSerializer(serializers.ModelSerializer):
    partner_key = serializers.CharField(
        source="raw_partner_key", read_only=True, help_text=_("The partner key as received.")
    )
    rep_key = serializers.CharField(
        source="raw_rep_key", read_only=True, help_text=_("The rep key as received.")
    )

    class Meta:
        model = Deal
        fields = [
            "id",
            "sf_id",
            "name",
            "partner",
            "rep",
            "amount",
            "currency",
            "stage",
            "is_closed",
            "is_won",
            "close_date",
            "sf_created_at",
            "sf_last_modified_at",
            "system_modstamp",
            "is_deleted",
            "partner_key",
            "rep_key",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class DealSyncRecordSerializer(serializers.Serializer):
    """One record of a plain JSON list for ``POST deals/sync/`` (the API's own names).

    ``partner_key`` / ``rep_key`` may also be whole numbers (``|n| < 2**63``). Read by
    ``activities.deal_inputs``, which documents the rules for text and dates."""

    sf_id = serializers.CharField(help_text=_("Opportunity Id (15 or 18 characters)."))
    system_modstamp = serializers.DateTimeField(help_text=_("Orders versions of one deal."))
    name = serializers.CharField(required=False)
    amount = serializers.DecimalField(max_digits=18, decimal_places=2, required=False)
    currency = serializers.CharField(required=False, max_length=3)
    stage = serializers.CharField(required=False)
    is_closed = serializers.BooleanField(required=False)
    is_won = serializers.BooleanField(required=False)
    is_deleted = serializers.BooleanField(required=False)
    close_date = serializers.DateField(required=False)
    sf_created_at = serializers.DateTimeField(required=False)
    sf_last_modified_at = serializers.DateTimeField(required=False)
    partner_key = serializers.CharField(required=False)
    rep_key = serializers.CharField(required=False)


class SalesforceOpportunitySerializer(serializers.Serializer):
    """An Opportunity record as the Salesforce REST API returns it (documentation only)."""

    attributes = serializers.DictField(required=False)
    Id = serializers.CharField()
    Name = serializers.CharField(required=False)
    Amount = serializers.DecimalField(max_digits=18, decimal_places=2, required=False)
    StageName = serializers.CharField(required=False)
    CloseDate = serializers.DateField(required=False)
    IsClosed = serializers.BooleanField(required=False)
    IsWon = serializers.BooleanField(required=False)
    IsDeleted = serializers.BooleanField(required=False)
    CreatedDate = serializers.CharField(required=False)
    LastModifiedDate = serializers.CharField(required=False)
    SystemModstamp = serializers.CharField()
    CurrencyIsoCode = serializers.CharField(required=False)
    AccountId = serializers.CharField(required=False)
    OwnerId = serializers.CharField(required=False)
    PartnerAccountId = serializers.CharField(required=False)


class SalesforceQueryResponseSerializer(serializers.Serializer):
    """The body of a Salesforce REST query response, as Salesforce returns it."""

    totalSize = serializers.IntegerField(required=False)
    done = serializers.BooleanField(required=False)
    nextRecordsUrl = serializers.CharField(required=False)
    records = SalesforceOpportunitySerializer(many=True)


class DealSyncResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField(help_text=_("Replayed versions (same SystemModstamp)."))
    stale = serializers.IntegerField(help_text=_("Versions older than the stored or batch one."))
    deleted = serializers.IntegerField(help_text=_("Deals soft-deleted by IsDeleted."))
    unmatched = serializers.IntegerField(
        help_text=_("Stored deals whose partner or rep is not known yet (linked on arrival).")
    )
    watermark = serializers.DateTimeField(
        allow_null=True, help_text=_("The newest SystemModstamp stored: resume from here.")
    )


class DealSyncStateSerializer(serializers.Serializer):
    watermark = serializers.DateTimeField(allow_null=True)
    partner_field = serializers.CharField()
    rep_field = serializers.CharField()
    rep_match = serializers.CharField()
