"""Currency rates over the REST API: Salesforce ``CurrencyType`` and ``DatedConversionRate``
records in (``POST currency-rates/``), the stored rates out (``GET``)."""

from __future__ import annotations

from dataclasses import asdict

from django.db.models import QuerySet
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from drf_spectacular.utils import (
    OpenApiExample,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from activities.deal_inputs import CURRENCY_CODE
from activities.models import CurrencyRate, DatedCurrencyRate
from activities.services.currencies import CurrencyRatesInvalid, currency_rates_import
from pse_crm import roles
from pse_crm.api.auth import DefaultCursorPagination
from pse_crm.api.errors import BatchInvalid, RecordError
from pse_crm.api.filters import StrictBooleanFilter
from pse_crm.api.limits import check_batch_size
from pse_crm.api.parsers import BoundedJSONParser
from pse_crm.api.viewsets import TenantReadOnlyViewSet

# --- serializers --------------------------------------------------------------------------


class CurrencyRateSerializer(serializers.ModelSerializer):
    class Meta:
        model = CurrencyRate
        fields = ["iso_code", "conversion_rate", "is_corporate", "is_active", "updated_at"]
        read_only_fields = fields


class DatedCurrencyRateSerializer(serializers.ModelSerializer):
    class Meta:
        model = DatedCurrencyRate
        fields = ["iso_code", "conversion_rate", "start_date", "next_start_date", "updated_at"]
        read_only_fields = fields


# The body as raw OpenAPI: a CurrencyType record and a dated one exclude each other, so
# that exactly one matches (``oneOf``); other Salesforce fields (Id, DecimalPlaces, url…)
# may come along and are ignored.
_RATE = {
    "type": "number",
    "minimum": 0.000000001,
    "maximum": 1e15,
    "exclusiveMaximum": True,
    "description": str(
        _("Units of this currency per one unit of the corporate currency (a JSON number).")
    ),
}
_ISO = {
    "type": "string",
    "pattern": CURRENCY_CODE.pattern,
    "description": str(_("ISO 4217, e.g. USD.")),
}
_DATE = {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"}


def _attributes(kind: str) -> dict:
    return {
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"type": "string", "enum": [kind]}},
    }


_CURRENCY_TYPE_RECORD = {
    "type": "object",
    "title": "CurrencyType",
    "required": ["IsoCode", "ConversionRate"],
    "properties": {
        "attributes": _attributes("CurrencyType"),
        "IsoCode": _ISO,
        "ConversionRate": _RATE,
        "IsCorporate": {"type": "boolean", "default": False},
        "IsActive": {"type": "boolean", "default": True},
    },
    "not": {"anyOf": [{"required": ["StartDate"]}, {"required": ["NextStartDate"]}]},
}
_DATED_RECORD = {
    "type": "object",
    "title": "DatedConversionRate",
    "description": str(_("Wins for close dates in [StartDate, NextStartDate).")),
    "required": ["IsoCode", "ConversionRate", "StartDate", "NextStartDate"],
    "properties": {
        "attributes": _attributes("DatedConversionRate"),
        "IsoCode": _ISO,
        "ConversionRate": _RATE,
        "StartDate": _DATE,
        "NextStartDate": {**_DATE, "description": str(_("After StartDate."))},
    },
}
_RECORD = {"oneOf": [_CURRENCY_TYPE_RECORD, _DATED_RECORD]}
_RECORDS = {"type": "array", "items": _RECORD}
CURRENCY_RATES_BODY = {
    "oneOf": [
        {
            "type": "object",
            "title": "Query page",
            "description": str(
                _("A query or queryAll response: totalSize, done and nextRecordsUrl are ignored.")
            ),
            "required": ["records"],
            "properties": {"records": _RECORDS},
        },
        {**_RECORDS, "title": "List of records"},
    ]
}


class CurrencyRatesImportResultSerializer(serializers.Serializer):
    currency_types = serializers.IntegerField(help_text=_("CurrencyType records imported."))
    dated_rates = serializers.IntegerField(help_text=_("DatedConversionRate records imported."))
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    deals_recomputed = serializers.IntegerField(
        help_text=_("Deals in these currencies whose corporate amount was recomputed.")
    )
    iso_codes = serializers.ListField(child=serializers.CharField())
    corporate_currency = serializers.CharField()


# --- filters ------------------------------------------------------------------------------


class _IsoCodeFilter(filters.CharFilter):
    def filter(self, qs, value):
        return super().filter(qs, value.strip().upper() if value else value)


class CurrencyRateFilter(filters.FilterSet):
    iso_code = _IsoCodeFilter(help_text=_("ISO code, e.g. USD."))
    active = StrictBooleanFilter(field_name="is_active", help_text=_("Active (IsActive)."))
    corporate = StrictBooleanFilter(field_name="is_corporate", help_text=_("IsCorporate."))

    class Meta:
        # Every filter is declared: generating them would query the scoped manager at import.
        model = CurrencyRate
        fields: list[str] = []


class DatedCurrencyRateFilter(filters.FilterSet):
    iso_code = _IsoCodeFilter(help_text=_("ISO code, e.g. EUR."))
    on = filters.DateFilter(
        method="filter_on", help_text=_("Only the rates covering this date (YYYY-MM-DD).")
    )

    class Meta:
        model = DatedCurrencyRate
        fields: list[str] = []

    def filter_on(self, queryset, name, value):
        return queryset.filter(start_date__lte=value, next_start_date__gt=value)


# --- viewset ------------------------------------------------------------------------------


class _ByIsoCode(DefaultCursorPagination):
    # One rate per ISO code and tenant: a unique, readable order.
    ordering = "iso_code"


_EXAMPLE = {
    "totalSize": 3,
    "done": True,
    "records": [
        {
            "attributes": {"type": "CurrencyType"},
            "IsoCode": "JPY",
            "ConversionRate": 1,
            "IsCorporate": True,
            "IsActive": True,
        },
        {
            "attributes": {"type": "CurrencyType"},
            "IsoCode": "USD",
            "ConversionRate": 0.0068,
            "IsCorporate": False,
            "IsActive": True,
        },
        {
            "attributes": {"type": "DatedConversionRate"},
            "IsoCode": "EUR",
            "ConversionRate": 0.0061,
            "StartDate": "2026-01-01",
            "NextStartDate": "2026-04-01",
        },
    ],
}


@extend_schema_view(
    list=extend_schema(
        summary=str(_("The tenant's conversion rates (CurrencyType)")),
        description=str(
            _(
                "Units of each currency per one unit of the corporate currency: an amount "
                "converts as amount ÷ rate. Dated rates are listed under dated/."
            )
        ),
    ),
    retrieve=extend_schema(summary=str(_("One conversion rate, by ISO code"))),
)
class CurrencyRateViewSet(TenantReadOnlyViewSet):
    """Conversion rates as Salesforce defines them. Integrations and owners write; every
    role reads."""

    model = CurrencyRate
    serializer_class = CurrencyRateSerializer
    read_capability = roles.READ_DATA
    write_capability = roles.WRITE_DATA
    parser_classes = [BoundedJSONParser]
    filterset_class = CurrencyRateFilter
    pagination_class = _ByIsoCode
    ordering_fields = ["iso_code", "updated_at"]
    lookup_field = "iso_code"
    lookup_value_regex = "[A-Za-z]{3}"

    def get_queryset(self):
        if self.action == "dated":
            # The dated rates, in the same tenant scope (the base's rule for schema runs).
            if getattr(self, "swagger_fake_view", False):
                return QuerySet(model=DatedCurrencyRate).none()
            return DatedCurrencyRate.objects.all()
        return super().get_queryset()

    def get_object(self):
        self.kwargs[self.lookup_field] = self.kwargs[self.lookup_field].upper()
        return super().get_object()

    @extend_schema(
        summary=str(_("Import CurrencyType and DatedConversionRate records")),
        description=str(
            _(
                "A Salesforce query page (totalSize, done, records) or a JSON array of "
                "records, CurrencyType (IsoCode, ConversionRate, IsCorporate, IsActive) and "
                "DatedConversionRate (IsoCode, ConversionRate, StartDate, NextStartDate) "
                "mixed, told apart by attributes.type or by their fields. A currency type is "
                "matched by IsoCode, a dated rate by IsoCode and StartDate. Every deal in an "
                "imported currency gets its corporate amount recomputed. Any bad record "
                "refuses the whole import (400, one entry per bad field), nothing written; "
                "beyond the schema, a batch is refused for a currency or a (currency, "
                "StartDate) given twice, a NextStartDate not after its StartDate, IsCorporate "
                "on another currency than the tenant's corporate one, or a corporate "
                "currency's rate other than 1."
            )
        ),
        request={"application/json": CURRENCY_RATES_BODY},
        responses={200: CurrencyRatesImportResultSerializer},
        examples=[
            OpenApiExample(
                "Salesforce query page",
                request_only=True,
                media_type="application/json",
                value=_EXAMPLE,
            )
        ],
    )
    def create(self, request, *args, **kwargs):
        data = request.data
        records = data.get("records") if isinstance(data, dict) else data
        if not isinstance(records, list):
            raise exceptions.ParseError(
                gettext(
                    "Expected a Salesforce query page (records) or a JSON array of "
                    "CurrencyType and DatedConversionRate records."
                )
            )
        check_batch_size(len(records))
        try:
            result = currency_rates_import(tenant=request.tenant, records=records)
        except CurrencyRatesInvalid as exc:
            raise BatchInvalid(
                [RecordError(index=e.index, field=e.field, message=e.message) for e in exc.errors],
                detail=exc.detail,
            ) from None
        return Response(
            CurrencyRatesImportResultSerializer(
                {**asdict(result), "corporate_currency": request.tenant.corporate_currency}
            ).data
        )

    @extend_schema(
        summary=str(_("The tenant's dated conversion rates (DatedConversionRate)")),
        filters=True,
        responses={200: DatedCurrencyRateSerializer(many=True)},
    )
    @action(
        detail=False,
        methods=["get"],
        url_path="dated",
        serializer_class=DatedCurrencyRateSerializer,
        filterset_class=DatedCurrencyRateFilter,
        pagination_class=DefaultCursorPagination,
        ordering_fields=["iso_code", "start_date"],
    )
    def dated(self, request):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        if page is not None:
            return self.get_paginated_response(DatedCurrencyRateSerializer(page, many=True).data)
        return Response(DatedCurrencyRateSerializer(queryset, many=True).data)
