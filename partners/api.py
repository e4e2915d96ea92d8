"""Partners over the REST API: list, retrieve, create, update, delete, bulk upsert."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from partners.models import Partner
from partners.serializers import PartnerBulkRecordSerializer, PartnerSerializer
from partners.services import partner_bulk_upsert
from pse_crm import roles
from pse_crm.api.errors import reject_duplicate_keys, validate_batch
from pse_crm.api.parsers import BoundedJSONParser
from pse_crm.api.schema import BulkResultSerializer
from pse_crm.api.viewsets import TenantModelViewSet


class PartnerFilter(filters.FilterSet):
    name = filters.CharFilter(lookup_expr="icontains", help_text=_("Part of the name."))
    updated_since = filters.IsoDateTimeFilter(
        field_name="updated_at", lookup_expr="gte", help_text=_("Changed at or after (ISO 8601).")
    )

    partner_type = filters.ChoiceFilter(choices=Partner.Type.choices)
    program_tier = filters.ChoiceFilter(choices=Partner.Tier.choices)
    status = filters.ChoiceFilter(choices=Partner.Status.choices)
    external_id = filters.CharFilter(help_text=_("Salesforce Account Id (18 characters)."))

    class Meta:
        # Every filter is declared: generating them would query the scoped manager at import.
        model = Partner
        fields: list[str] = []


class PartnerViewSet(TenantModelViewSet):
    """The vendor's partners (パートナー). Integrations and owners write; every role reads."""

    model = Partner
    serializer_class = PartnerSerializer
    read_capability = roles.READ_DATA
    write_capability = roles.WRITE_DATA
    parser_classes = [BoundedJSONParser]
    filterset_class = PartnerFilter
    ordering_fields = ["name", "created_at", "updated_at", "id"]
    batch_actions = frozenset({"bulk"})  # 400 is a BatchError (pse_crm.api.schema)

    def scope_queryset(self, queryset):
        return queryset.prefetch_related("domains")

    @extend_schema(
        summary=str(_("Create or update up to 10,000 partners by external_id")),
        request=PartnerBulkRecordSerializer(many=True),
        responses={
            200: BulkResultSerializer,
            413: OpenApiResponse(description=str(_("Over 10,000 records."))),
        },
    )
    @action(detail=False, methods=["post"], url_path="bulk")
    def bulk(self, request):
        records = validate_batch(PartnerBulkRecordSerializer, request.data)
        reject_duplicate_keys(records, "external_id")
        result = partner_bulk_upsert(tenant=request.tenant, records=records)
        return Response(BulkResultSerializer(result).data)
