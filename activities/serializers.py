"""API representations of materials, material views, deals and deal sync."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from activities.deal_shapes import CHANGE_TYPES
from activities.models import Deal, Material, MaterialView
from pse_crm.api.fields import SalesforceIdField

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
            "amount_corporate",
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
    converted_amount = serializers.DecimalField(
        max_digits=18,
        decimal_places=2,
        required=False,
        allow_null=True,
        help_text=_("The amount in the corporate currency, as Salesforce converted it."),
    )
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
    convertedAmount = serializers.DecimalField(
        max_digits=18,
        decimal_places=2,
        required=False,
        allow_null=True,
        help_text=_("The alias of convertCurrency(Amount) (ConvertedAmount also reads)."),
    )
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


class ChangeEventHeaderSerializer(serializers.Serializer):
    """The header of a Change Data Capture event (documentation only)."""

    entityName = serializers.ChoiceField(choices=["Opportunity"])
    recordIds = serializers.ListField(
        child=SalesforceIdField(allow_blank=False),
        allow_empty=True,
        help_text=_("Empty only for GAP_OVERFLOW; 006* (every record) is also read."),
    )
    changeType = serializers.ChoiceField(choices=list(CHANGE_TYPES))
    commitTimestamp = serializers.IntegerField(
        min_value=0,
        max_value=253402300799000,
        help_text=_("Milliseconds since 1970: the version."),
    )
    changedFields = serializers.ListField(child=serializers.CharField(), required=False)
    nulledFields = serializers.ListField(child=serializers.CharField(), required=False)
    diffFields = serializers.ListField(child=serializers.CharField(), required=False)
    changeOrigin = serializers.CharField(required=False, allow_blank=True)
    transactionKey = serializers.CharField(required=False)
    sequenceNumber = serializers.IntegerField(required=False)
    commitNumber = serializers.IntegerField(required=False)
    commitUser = serializers.CharField(required=False)


class ChangeEventPayloadSerializer(serializers.Serializer):
    """A change event's payload: the header and the Opportunity fields it carries."""

    ChangeEventHeader = ChangeEventHeaderSerializer()


class ChangeEventSerializer(serializers.Serializer):
    """A Change Data Capture event for Opportunity as a CometD client receives it (the
    payload alone is read too; documentation only)."""

    schema = serializers.CharField(required=False)
    payload = ChangeEventPayloadSerializer()
    event = serializers.DictField(required=False)


class DeletedRecordSerializer(serializers.Serializer):
    id = SalesforceIdField(allow_blank=False)
    deletedDate = serializers.DateTimeField(help_text=_("ISO 8601 date and time: the version."))


class GetDeletedResponseSerializer(serializers.Serializer):
    """The body of Salesforce's getDeleted (``sobjects/Opportunity/deleted/``)."""

    deletedRecords = DeletedRecordSerializer(many=True)
    earliestDateAvailable = serializers.DateTimeField(required=False, allow_null=True)
    latestDateCovered = serializers.DateTimeField(required=False, allow_null=True)


class DealSyncResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField(help_text=_("Replayed versions (same SystemModstamp)."))
    stale = serializers.IntegerField(help_text=_("Versions older than the stored or batch one."))
    deleted = serializers.IntegerField(help_text=_("Deals soft-deleted by IsDeleted."))
    unmatched = serializers.IntegerField(
        help_text=_("Stored deals whose partner or rep is not known yet (linked on arrival).")
    )
    resync_noted = serializers.IntegerField(
        help_text=_("Ids listed for a resync by GAP_* or GAP_OVERFLOW change events.")
    )
    resync_cleared = serializers.IntegerField(
        help_text=_("Ids taken off the resync list by a fetched record.")
    )
    watermark = serializers.DateTimeField(
        allow_null=True, help_text=_("The newest SystemModstamp stored: resume from here.")
    )


class DealResyncSerializer(serializers.Serializer):
    sf_id = serializers.CharField(help_text=_("Opportunity Id, or 006* for every one."))
    reason = serializers.CharField(help_text=_("The change type that lost the change."))
    noted_at = serializers.DateTimeField()


class DealSyncStateSerializer(serializers.Serializer):
    watermark = serializers.DateTimeField(allow_null=True)
    partner_field = serializers.CharField()
    rep_field = serializers.CharField()
    rep_match = serializers.CharField()
    resync_count = serializers.IntegerField(help_text=_("Ids to fetch again in full."))
    resync = DealResyncSerializer(
        many=True, help_text=_("The first 1,000 of them, oldest noted first.")
    )
