"""Partner totals and share of wallet over the REST API.

Here rather than in ``partners`` because a total's currency needs ``activities``' rates
and a share needs its deals: ``web`` is the layer that sees both.
"""

from __future__ import annotations

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, generics, serializers
from rest_framework.response import Response

from partners.models import Partner, PartnerTotal
from partners.periods import MONTH, QUARTER, period_of, period_shift
from pse_crm import roles
from pse_crm.api.errors import BatchInvalid, validate_batch
from pse_crm.api.filters import TenantRelatedIdFilter
from pse_crm.api.limits import check_batch_size
from pse_crm.api.parsers import BoundedJSONParser, RawCSVParser
from pse_crm.api.schema import BulkResultSerializer
from pse_crm.api.viewsets import TenantAPIMixin, TenantReadOnlyViewSet
from pse_crm.calendar import tenant_today
from web.serializers import (
    PartnerTotalRecordSerializer,
    PartnerTotalSerializer,
    ShareOfWalletSerializer,
)
from web.services.partner_totals import (
    PartnerTotalsInvalid,
    partner_totals_import_csv,
    partner_totals_upsert,
)
from web.share_of_wallet import MAX_PERIODS, share_of_wallet

# Managers and owners enter totals; so does the data feed (a write-scoped key).
WRITE_TOTALS = roles.MANAGE | {roles.INTEGRATION}


class PartnerTotalFilter(filters.FilterSet):
    partner = TenantRelatedIdFilter(model=Partner, help_text=_("Partner id."))
    granularity = filters.ChoiceFilter(choices=PartnerTotal.Granularity.choices)
    source = filters.ChoiceFilter(choices=PartnerTotal.Source.choices)
    period_after = filters.DateFilter(
        field_name="period_end", lookup_expr="gte", help_text=_("Periods ending on or after.")
    )
    period_before = filters.DateFilter(
        field_name="period_start",
        lookup_expr="lte",
        help_text=_("Periods starting on or before."),
    )
    updated_since = filters.IsoDateTimeFilter(
        field_name="updated_at", lookup_expr="gte", help_text=_("Changed at or after (ISO 8601).")
    )

    class Meta:
        # Every filter is declared: generating them would query the scoped manager at import.
        model = PartnerTotal
        fields: list[str] = []


class PartnerTotalViewSet(TenantReadOnlyViewSet):
    """Partners' total sales in our category per calendar month or quarter (the
    denominator of share of wallet). Every role reads; managers, owners and write-scoped
    keys upsert."""

    model = PartnerTotal
    serializer_class = PartnerTotalSerializer
    read_capability = roles.READ_DATA
    write_capability = WRITE_TOTALS
    parser_classes = [BoundedJSONParser, RawCSVParser]
    filterset_class = PartnerTotalFilter
    ordering_fields = ["period_start", "updated_at", "id"]

    def scope_queryset(self, queryset):
        return queryset.select_related("partner")

    @extend_schema(
        summary=str(_("Create or replace partner totals by partner and period")),
        description=str(
            _(
                "A JSON array of records, or text/csv with the same column names. A record "
                "replaces the partner's total of its period (a whole calendar month or "
                "quarter). Any bad record refuses the whole batch; nothing is written."
            )
        ),
        request={
            "application/json": PartnerTotalRecordSerializer(many=True),
            "text/csv": OpenApiTypes.STR,
        },
        responses={200: BulkResultSerializer},
    )
    def create(self, request, *args, **kwargs):
        is_csv = isinstance(request.data, bytes | bytearray)
        try:
            if is_csv:
                data = bytes(request.data)
                check_batch_size(max(data.count(b"\n") - 1, 0))
                result = partner_totals_import_csv(tenant=request.tenant, data=data)
            else:
                records = validate_batch(PartnerTotalRecordSerializer, request.data)
                result = partner_totals_upsert(tenant=request.tenant, records=records)
        except PartnerTotalsInvalid as exc:
            raise BatchInvalid.from_rows(exc.errors, by_line=is_csv) from None
        return Response(BulkResultSerializer(result).data)


class ShareOfWalletQuerySerializer(serializers.Serializer):
    partner = serializers.IntegerField(required=False, help_text=_("Partner id."))
    granularity = serializers.ChoiceField(
        choices=PartnerTotal.Granularity.choices, required=False, default=QUARTER
    )
    period_after = serializers.DateField(
        required=False, help_text=_("Periods ending on or after (default: three periods ago).")
    )
    period_before = serializers.DateField(
        required=False, help_text=_("Periods starting on or before (default: today).")
    )


class ShareOfWalletView(TenantAPIMixin, generics.GenericAPIView):
    """Share of wallet per partner and period: our won amount ÷ the partner's total, both
    in the corporate currency. No total: share null, never 0. Our wins above the total:
    ``inconsistent`` and share null. Results: members and read-scoped keys."""

    serializer_class = ShareOfWalletSerializer
    read_capability = roles.READ_RESULTS
    pagination_class = None
    # Rows are computed, not a model's: the schema takes its shape from the serializer.
    queryset = PartnerTotal.objects.none()

    @extend_schema(
        parameters=[ShareOfWalletQuerySerializer],
        responses={200: ShareOfWalletSerializer(many=True)},
    )
    def get(self, request, *args, **kwargs):
        query = ShareOfWalletQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        granularity = params["granularity"]
        today = tenant_today(request.tenant)
        before = params.get("period_before") or today
        after = (
            params.get("period_after")
            or period_shift(period_of(before, granularity)[0], granularity, -3)[0]
        )
        if after > before:
            raise exceptions.ValidationError(
                {"period_after": [gettext("period_after is after period_before.")]}
            )
        # The periods that meet [after, before]: from the start of after's to before's.
        first, last = period_of(after, granularity)[0], period_of(before, granularity)[0]
        months = (last.year - first.year) * 12 + last.month - first.month
        if months // (1 if granularity == MONTH else 3) + 1 > MAX_PERIODS:
            raise exceptions.ValidationError(
                {"period_after": [gettext("At most %(n)d periods at once.") % {"n": MAX_PERIODS}]}
            )
        partner_ids = None
        if "partner" in params:
            if not Partner.objects.filter(pk=params["partner"]).exists():
                raise exceptions.NotFound(
                    gettext("%(field)s %(id)s was not found.")
                    % {"field": "partner", "id": params["partner"]}
                )
            partner_ids = [params["partner"]]
        rows = share_of_wallet(
            tenant=request.tenant,
            period_after=after,
            period_before=before,
            granularity=granularity,
            partner_ids=partner_ids,
        )
        return Response(self.get_serializer(rows, many=True).data)
