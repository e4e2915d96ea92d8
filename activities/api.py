"""Materials, material-view logs and deals over the REST API, with the Salesforce deal sync."""

from __future__ import annotations

import io
from collections.abc import Mapping

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import exceptions
from rest_framework.decorators import action
from rest_framework.response import Response

from activities.deal_csv import COLUMN_DELIMITERS, deal_inputs_from_csv
from activities.deal_inputs import DealInputInvalid
from activities.deal_shapes import DealBatch, deal_batch_from_json
from activities.deal_sync_schema import (
    COLUMN_DELIMITER_PARAMETER,
    DEAL_SYNC_DESCRIPTION,
    DEAL_SYNC_EXAMPLES,
)
from activities.models import Deal, Material, MaterialView
from activities.selectors import deal_resync_list, deal_sync_watermark, sync_settings_get
from activities.serializers import (
    ChangeEventSerializer,
    DealSerializer,
    DealSyncRecordSerializer,
    DealSyncResultSerializer,
    DealSyncStateSerializer,
    GetDeletedResponseSerializer,
    MaterialBulkRecordSerializer,
    MaterialSerializer,
    MaterialViewEventSerializer,
    MaterialViewIngestResultSerializer,
    MaterialViewSerializer,
    SalesforceOpportunitySerializer,
    SalesforceQueryResponseSerializer,
)
from activities.services.deals import deal_sync
from activities.services.material_view_csv import IngestValidationError, iter_csv_chunks
from activities.services.material_views import CHUNK_ROWS, material_views_ingest
from activities.services.materials import material_bulk_upsert
from partners.models import Partner
from pse_crm import roles
from pse_crm.api.errors import BatchInvalid, RecordError, reject_duplicate_keys, validate_batch
from pse_crm.api.filters import StrictBooleanFilter, TenantRelatedIdFilter
from pse_crm.api.limits import check_batch_size, max_deal_csv_rows
from pse_crm.api.parsers import BoundedJSONParser, RawCSVParser, StreamingCSVParser
from pse_crm.api.schema import BulkResultSerializer
from pse_crm.api.viewsets import TenantModelViewSet, TenantReadOnlyViewSet
from reps.models import Rep

# --- materials ----------------------------------------------------------------------------


class MaterialFilter(filters.FilterSet):
    title = filters.CharFilter(lookup_expr="icontains", help_text=_("Part of the title."))
    updated_since = filters.IsoDateTimeFilter(
        field_name="updated_at", lookup_expr="gte", help_text=_("Changed at or after (ISO 8601).")
    )

    kind = filters.ChoiceFilter(choices=Material.Kind.choices)
    product = filters.CharFilter()
    external_id = filters.CharFilter()

    class Meta:
        # Every filter is declared: generating them would query the scoped manager at import.
        model = Material
        fields: list[str] = []


class MaterialViewSet(TenantModelViewSet):
    """The vendor's sales materials. Integrations and owners write; every role reads."""

    model = Material
    serializer_class = MaterialSerializer
    read_capability = roles.READ_DATA
    write_capability = roles.WRITE_DATA
    parser_classes = [BoundedJSONParser]
    filterset_class = MaterialFilter
    ordering_fields = ["title", "kind", "created_at", "updated_at", "id"]
    batch_actions = frozenset({"bulk"})  # 400 is a BatchError (pse_crm.api.schema)

    @extend_schema(
        summary=str(_("Create or update up to 10,000 materials by external_id")),
        request=MaterialBulkRecordSerializer(many=True),
        responses={200: BulkResultSerializer},
    )
    @action(detail=False, methods=["post"], url_path="bulk")
    def bulk(self, request):
        records = validate_batch(MaterialBulkRecordSerializer, request.data)
        reject_duplicate_keys(records, "external_id")
        result = material_bulk_upsert(tenant=request.tenant, records=records)
        return Response(BulkResultSerializer(result).data)


# --- material views -----------------------------------------------------------------------


class MaterialViewFilter(filters.FilterSet):
    rep = TenantRelatedIdFilter(model=Rep, help_text=_("Rep id."))
    partner = TenantRelatedIdFilter(
        model=Partner, field_name="rep__partner", help_text=_("Partner id (of the rep).")
    )
    material = TenantRelatedIdFilter(model=Material, help_text=_("Material id."))
    viewed_after = filters.IsoDateTimeFilter(
        field_name="viewed_at", lookup_expr="gte", help_text=_("Viewed at or after (ISO 8601).")
    )
    viewed_before = filters.IsoDateTimeFilter(
        field_name="viewed_at", lookup_expr="lt", help_text=_("Viewed before (ISO 8601).")
    )

    source = filters.CharFilter()
    event_id = filters.CharFilter()

    class Meta:
        # Every filter is declared: generating them would query the scoped manager at import.
        model = MaterialView
        fields: list[str] = []


_VIEW_VALUE_TYPES = (str, int, float, type(None))


def _json_view_rows(data) -> list[tuple[int, Mapping]]:
    """A JSON array of events as (0-based index, event) rows; wrong shapes are bad records."""
    if not isinstance(data, list):
        raise exceptions.ParseError(gettext("Expected a JSON array of events."))
    check_batch_size(len(data))
    errors = []
    for index, event in enumerate(data):
        if not isinstance(event, Mapping):
            errors.append(
                RecordError(index=index, field="", message=gettext("Expected an object."))
            )
            continue
        for key, value in event.items():
            if isinstance(value, bool) or not isinstance(value, _VIEW_VALUE_TYPES):
                errors.append(
                    RecordError(
                        index=index,
                        field=str(key),
                        message=gettext("Expected a string or a number."),
                    )
                )
    if errors:
        raise BatchInvalid(errors)
    return list(enumerate(data))


class MaterialViewViewSet(TenantReadOnlyViewSet):
    """Material-view logs (資料閲覧ログ): list with filters; integrations post new events."""

    model = MaterialView
    serializer_class = MaterialViewSerializer
    read_capability = roles.READ_DATA
    write_capability = roles.WRITE_DATA
    parser_classes = [BoundedJSONParser, RawCSVParser]
    filterset_class = MaterialViewFilter
    ordering_fields = ["viewed_at", "ingested_at", "id"]
    batch_actions = frozenset({"create"})  # 400 is a BatchError (pse_crm.api.schema)

    def scope_queryset(self, queryset):
        return queryset.select_related("rep")

    @extend_schema(
        summary=str(_("Ingest up to 10,000 material-view events")),
        description=str(
            _(
                "A JSON array of events, or text/csv with the columns of the CSV import "
                "(event_id, viewed_at, rep_email or rep_external_id, material_external_id or "
                "material_url, duration_seconds). A replayed event_id counts as a duplicate "
                "and is not stored twice. Any bad event refuses the whole batch."
            )
        ),
        request={
            "application/json": MaterialViewEventSerializer(many=True),
            "text/csv": OpenApiTypes.STR,
        },
        responses={200: MaterialViewIngestResultSerializer},
    )
    def create(self, request, *args, **kwargs):
        is_csv = isinstance(request.data, bytes | bytearray)
        if is_csv:
            try:
                # Column by column, as the import command reads a file (no dict per row).
                batch = {"chunks": list(iter_csv_chunks(bytes(request.data), CHUNK_ROWS))}
            except IngestValidationError as exc:
                raise BatchInvalid.from_rows(exc.errors, by_line=True) from None
            check_batch_size(sum(map(len, batch["chunks"])))
        else:
            batch = {"rows": _json_view_rows(request.data)}
        try:
            result = material_views_ingest(tenant=request.tenant, source="api", **batch)
        except IngestValidationError as exc:
            raise BatchInvalid.from_rows(exc.errors, by_line=is_csv) from None
        return Response(
            MaterialViewIngestResultSerializer(
                {
                    "created": result.created,
                    "duplicates": result.duplicates,
                    "reps_created": result.reps_created,
                }
            ).data
        )


# --- deals --------------------------------------------------------------------------------


class DealFilter(filters.FilterSet):
    partner = TenantRelatedIdFilter(model=Partner, help_text=_("Partner id."))
    rep = TenantRelatedIdFilter(model=Rep, help_text=_("Rep id."))
    won = StrictBooleanFilter(field_name="is_won", help_text=_("Won (IsWon)."))
    closed = StrictBooleanFilter(field_name="is_closed", help_text=_("Closed (IsClosed)."))
    close_date = filters.DateFromToRangeFilter(
        help_text=_("close_date_after / close_date_before (YYYY-MM-DD, inclusive).")
    )
    modified_since = filters.IsoDateTimeFilter(
        field_name="system_modstamp",
        lookup_expr="gte",
        help_text=_("SystemModstamp at or after (ISO 8601)."),
    )
    sf_id = filters.CharFilter(help_text=_("Salesforce Opportunity Id (18 characters)."))

    stage = filters.CharFilter(help_text=_("StageName, exactly."))
    currency = filters.CharFilter()

    class Meta:
        # Every filter is declared: generating them would query the scoped manager at import.
        model = Deal
        fields: list[str] = []


_INCLUDE_DELETED = OpenApiParameter(
    "include_deleted",
    OpenApiTypes.BOOL,
    description=str(_("Also list soft-deleted deals (IsDeleted).")),
)


@extend_schema(parameters=[_INCLUDE_DELETED])
class DealViewSet(TenantReadOnlyViewSet):
    """Deals (opportunities) synced from Salesforce. Won is IsWon, never a stage name."""

    model = Deal
    serializer_class = DealSerializer
    read_capability = roles.READ_DATA
    write_capability = roles.WRITE_DATA
    parser_classes = [BoundedJSONParser, StreamingCSVParser]
    filterset_class = DealFilter
    ordering_fields = ["system_modstamp", "close_date", "amount", "sf_created_at", "id"]
    batch_actions = frozenset({"sync"})  # 400 is a BatchError (pse_crm.api.schema)

    def scope_queryset(self, queryset):
        if self.action != "list":
            return queryset
        raw = self.request.query_params.get("include_deleted", "false").strip().lower()
        if raw not in ("true", "false", "1", "0"):
            raise exceptions.ValidationError(
                {"include_deleted": [gettext("Expected true or false.")]}
            )
        return queryset if raw in ("true", "1") else queryset.filter(is_deleted=False)

    def _settings(self):
        return sync_settings_get(tenant=self.request.tenant)

    @extend_schema(
        methods=["GET"],
        summary=str(
            _("Where to resume: the sync watermark, the sync settings and the ids to resync")
        ),
        parameters=[],
        responses={200: DealSyncStateSerializer},
        filters=False,
    )
    @extend_schema(
        methods=["POST"],
        summary=str(_("Upsert Salesforce opportunities by Id, from any shape Salesforce sends")),
        description=str(DEAL_SYNC_DESCRIPTION),
        parameters=[COLUMN_DELIMITER_PARAMETER],
        request={
            "application/json": PolymorphicProxySerializer(
                component_name="DealSyncBody",
                serializers=[
                    SalesforceQueryResponseSerializer,
                    SalesforceOpportunitySerializer(many=True),
                    DealSyncRecordSerializer(many=True),
                    ChangeEventSerializer,
                    ChangeEventSerializer(many=True),
                    GetDeletedResponseSerializer,
                ],
                resource_type_field_name=None,
                many=False,
            ),
            "text/csv": OpenApiTypes.STR,
        },
        responses={200: DealSyncResultSerializer},
        examples=DEAL_SYNC_EXAMPLES,
        filters=False,
    )
    @action(detail=False, methods=["get", "post"], url_path="sync", pagination_class=None)
    def sync(self, request):
        settings = self._settings()
        if request.method == "GET":
            resync, resync_count = deal_resync_list(tenant=request.tenant)
            return Response(
                DealSyncStateSerializer(
                    {
                        "watermark": deal_sync_watermark(tenant=request.tenant),
                        "partner_field": settings.partner_field,
                        "rep_field": settings.rep_field,
                        "rep_match": settings.rep_match,
                        "resync_count": resync_count,
                        "resync": resync,
                    }
                ).data
            )
        data = request.data
        fields = {
            "partner_field": settings.partner_field,
            "rep_field": settings.rep_field,
            "rep_match": settings.rep_match,
        }
        try:
            if isinstance(data, bytes | bytearray | io.IOBase):
                batch = DealBatch("csv", deals=self._csv(data, fields))
            else:
                _check_json_size(data)
                try:
                    batch = deal_batch_from_json(data, **fields)
                except ValueError as exc:  # no known shape
                    raise exceptions.ParseError(str(exc)) from None
                check_batch_size(len(batch.deals) + len(batch.gaps), limit=max_deal_csv_rows())
        except DealInputInvalid as exc:
            raise BatchInvalid.from_rows(exc.errors, by_line=exc.by_line) from None
        result = deal_sync(
            tenant=request.tenant,
            deals=batch.deals,
            gaps=batch.gaps,
            resync_all_done=batch.query_done,
        )
        return Response(DealSyncResultSerializer(result).data)

    def _csv(self, data, fields):
        name = self.request.query_params.get("columnDelimiter", "COMMA")
        if name not in COLUMN_DELIMITERS:
            message = gettext("columnDelimiter: expected one of %(names)s.") % {
                "names": ", ".join(COLUMN_DELIMITERS)
            }
            raise BatchInvalid(
                [RecordError(field="columnDelimiter", message=message)], detail=message
            )
        return deal_inputs_from_csv(data, delimiter=name, **fields)


def _check_json_size(data) -> None:
    """413 for a JSON body with more records (or change events) than one request takes."""
    if isinstance(data, list):
        check_batch_size(len(data))
    elif isinstance(data, Mapping):
        for key in ("records", "deletedRecords"):
            if isinstance(data.get(key), list):
                check_batch_size(len(data[key]))
