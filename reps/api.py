"""Reps over the REST API: list, retrieve, create, update, delete, bulk upsert."""

from __future__ import annotations

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.decorators import action
from rest_framework.response import Response

from partners.models import Partner
from partners.selectors import partners_by_external_id
from pse_crm import roles
from pse_crm.api.errors import BatchInvalid, RecordError, reject_duplicate_keys, validate_batch
from pse_crm.api.filters import StrictBooleanFilter, TenantRelatedIdFilter
from pse_crm.api.parsers import BoundedJSONParser
from pse_crm.api.schema import BulkResultSerializer
from pse_crm.api.viewsets import TenantModelViewSet
from reps.models import Rep
from reps.serializers import RepBulkRecordSerializer, RepSerializer
from reps.services import RepBulkError, rep_bulk_upsert


class RepFilter(filters.FilterSet):
    partner = TenantRelatedIdFilter(model=Partner, help_text=_("Partner id."))
    name = filters.CharFilter(lookup_expr="icontains", help_text=_("Part of the name."))
    email = filters.CharFilter(method="filter_email", help_text=_("Email (any case)."))
    updated_since = filters.IsoDateTimeFilter(
        field_name="updated_at", lookup_expr="gte", help_text=_("Changed at or after (ISO 8601).")
    )

    is_employed = StrictBooleanFilter()
    hire_type = filters.ChoiceFilter(choices=Rep.HireType.choices)
    influence = filters.ChoiceFilter(choices=Rep.Influence.choices)
    external_id = filters.CharFilter(help_text=_("Content platform user id."))
    salesforce_user_id = filters.CharFilter(help_text=_("Salesforce user id (18 characters)."))

    class Meta:
        # Every filter is declared: generating them would query the scoped manager at import.
        model = Rep
        fields: list[str] = []

    def filter_email(self, queryset, name, value):
        return queryset.filter(email=value.strip().lower())


class RepViewSet(TenantModelViewSet):
    """Partner reps (パートナー営業担当者). Integrations and owners write; every role reads."""

    model = Rep
    serializer_class = RepSerializer
    read_capability = roles.READ_DATA
    write_capability = roles.WRITE_DATA
    parser_classes = [BoundedJSONParser]
    filterset_class = RepFilter
    ordering_fields = ["name", "email", "created_at", "updated_at", "id"]
    batch_actions = frozenset({"bulk"})  # 400 is a BatchError (pse_crm.api.schema)

    def scope_queryset(self, queryset):
        return queryset.select_related("partner")

    @extend_schema(
        summary=str(_("Create or update up to 10,000 reps by external_id or email")),
        request=RepBulkRecordSerializer(many=True),
        responses={200: BulkResultSerializer},
    )
    @action(detail=False, methods=["post"], url_path="bulk")
    def bulk(self, request):
        records = validate_batch(RepBulkRecordSerializer, request.data)
        reject_duplicate_keys(records, "external_id", "email", "salesforce_user_id")
        tenant = request.tenant
        ids = {r["partner"] for r in records if r.get("partner") is not None}
        known = set(Partner.objects.filter(pk__in=ids).values_list("pk", flat=True))
        if ids - known:
            raise exceptions.NotFound(
                gettext("partner %(id)s was not found.") % {"id": min(ids - known)}
            )
        by_ext = partners_by_external_id(
            tenant=tenant, external_ids=[r.get("partner_external_id", "") for r in records]
        )
        errors = []
        rows = []
        for index, record in enumerate(records):
            partner_id = record.pop("partner", None)
            external = record.pop("partner_external_id", "")
            if external:
                partner = by_ext.get(external)
                if partner is None:
                    errors.append(
                        RecordError(
                            index=index,
                            field="partner_external_id",
                            message=gettext("No partner has this Salesforce Account Id."),
                        )
                    )
                    continue
                partner_id = partner.pk
            if partner_id is not None:
                record["partner_id"] = partner_id
            rows.append(record)
        if errors:
            raise BatchInvalid(errors)
        try:
            result = rep_bulk_upsert(tenant=tenant, records=rows)
        except RepBulkError as exc:
            raise BatchInvalid(
                [RecordError(index=i, field=f, message=m) for i, f, m in exc.errors]
            ) from None
        return Response(BulkResultSerializer(result).data)
