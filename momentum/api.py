"""API of momentum (read-only)."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from momentum.models import MomentumSnapshot
from momentum.selectors import momentum_indicators
from momentum.serializers import MomentumIndicatorSerializer, MomentumSnapshotSerializer
from pse_crm import roles
from pse_crm.api.viewsets import TenantReadOnlyViewSet


class MomentumFilter(django_filters.FilterSet):
    partner = django_filters.NumberFilter(field_name="partner_id")
    whole_tenant = django_filters.BooleanFilter(field_name="partner", lookup_expr="isnull")
    since = django_filters.DateFilter(field_name="week_start", lookup_expr="gte")
    until = django_filters.DateFilter(field_name="week_start", lookup_expr="lte")

    class Meta:
        model = MomentumSnapshot
        fields: list[str] = []  # every filter is declared above


class MomentumViewSet(TenantReadOnlyViewSet):
    """Weekly momentum snapshots per partner (``whole_tenant=true``: the tenant's rows)."""

    model = MomentumSnapshot
    serializer_class = MomentumSnapshotSerializer
    read_capability = roles.READ_RESULTS
    filterset_class = MomentumFilter

    @extend_schema(responses=MomentumIndicatorSerializer(many=True))
    @action(detail=False, methods=["get"])
    def indicators(self, request):
        """Per partner (and the tenant, partner null): accelerating, steady or stalling."""
        rows = [
            {
                "partner": partner_id,
                "label": m.label,
                "label_display": m.label_display,
                "score": m.score,
                "active_trend": m.active_trend,
                "win_trend": m.win_trend,
                "weeks": m.weeks,
            }
            for partner_id, m in sorted(
                momentum_indicators(tenant=request.tenant).items(),
                key=lambda kv: (kv[0] is not None, kv[0] or 0),
            )
        ]
        return Response(MomentumIndicatorSerializer(rows, many=True).data)
