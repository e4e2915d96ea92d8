"""API of hearings, know-how and know-how shares (staff and above write; every role reads)."""

from __future__ import annotations

import django_filters
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from knowhow import services as hearing_services
from knowhow.models import Hearing, KnowHow, KnowHowShare
from knowhow.selectors import (
    DEFAULT_REACH_DAYS,
    hearings_with_tag,
    know_how_effect,
    know_how_reach,
)
from knowhow.serializers import (
    HearingSerializer,
    KnowHowEffectSerializer,
    KnowHowReachSerializer,
    KnowHowSerializer,
    KnowHowShareSerializer,
)
from pse_crm import roles
from pse_crm.api.services import NO_DELETE, acting_user
from pse_crm.api.viewsets import TenantAPIMixin, TenantModelViewSet


class HearingFilter(django_filters.FilterSet):
    rep = django_filters.NumberFilter(field_name="rep_id")
    partner = django_filters.NumberFilter(field_name="rep__partner_id")
    held_after = django_filters.DateFilter(field_name="held_on", lookup_expr="gte")
    held_before = django_filters.DateFilter(field_name="held_on", lookup_expr="lte")
    tag = django_filters.CharFilter(method="filter_tag", label=gettext_lazy("tag (exact)"))

    class Meta:
        model = Hearing
        fields: list[str] = []  # every filter is declared above

    def filter_tag(self, queryset, name, value):
        return hearings_with_tag(queryset, tag=value)


class HearingViewSet(TenantModelViewSet):
    """Hearings with reps (usually performers and independents): how they sell."""

    model = Hearing
    serializer_class = HearingSerializer
    read_capability = roles.READ
    write_capability = roles.WRITE_ENABLEMENT
    filterset_class = HearingFilter
    http_method_names = NO_DELETE

    def scope_queryset(self, queryset):
        return queryset.select_related("rep", "held_by")

    def perform_create(self, serializer):
        serializer.instance = hearing_services.hearing_create(
            tenant=self.request.tenant,
            held_by=acting_user(self.request),
            **serializer.validated_data,
        )

    def perform_update(self, serializer):
        serializer.instance = hearing_services.hearing_update(
            tenant=self.request.tenant,
            hearing=serializer.instance,
            **serializer.validated_data,
        )


class KnowHowViewSet(TenantModelViewSet):
    """Reusable know-how drawn from hearings."""

    model = KnowHow
    serializer_class = KnowHowSerializer
    read_capability = roles.READ
    write_capability = roles.WRITE_ENABLEMENT
    http_method_names = NO_DELETE

    def scope_queryset(self, queryset):
        return queryset.select_related("created_by").prefetch_related(
            Prefetch("hearings", queryset=Hearing.objects.only("pk"))
        )

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        serializer.instance = hearing_services.know_how_create(
            tenant=self.request.tenant,
            created_by=acting_user(self.request),
            hearings=data.pop("hearings", []),
            **data,
        )

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        serializer.instance = hearing_services.know_how_update(
            tenant=self.request.tenant,
            know_how=serializer.instance,
            hearings=data.pop("hearings", None),
            **data,
        )

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "days", OpenApiTypes.INT, description=_("Days after the share (default 30).")
            )
        ],
        responses=KnowHowReachSerializer(many=True),
    )
    @action(detail=False, methods=["get"])
    def reach(self, request):
        """Per know-how: reps reached, and how many became active or won within N days."""
        try:
            days = int(request.query_params.get("days", DEFAULT_REACH_DAYS))
        except ValueError:
            raise exceptions.ValidationError({"days": [_("A whole number of days.")]}) from None
        if not 1 <= days <= 365:
            raise exceptions.ValidationError({"days": [_("Between 1 and 365 days.")]})
        titles = dict(KnowHow.objects.values_list("pk", "title"))
        reach = know_how_reach(tenant=request.tenant, days=days, know_how_ids=list(titles))
        rows = [
            {"know_how": pk, "title": titles[pk], "days": days, **figures}
            for pk, figures in sorted(reach.items())
        ]
        return Response(KnowHowReachSerializer(rows, many=True).data)


class KnowHowShareFilter(django_filters.FilterSet):
    know_how = django_filters.NumberFilter(field_name="know_how_id")
    partner = django_filters.NumberFilter(field_name="partner_id")
    rep = django_filters.NumberFilter(field_name="rep_id")

    class Meta:
        model = KnowHowShare
        fields: list[str] = []  # every filter is declared above


class KnowHowShareViewSet(TenantModelViewSet):
    """Know-how shared with a partner or a rep (横展開)."""

    model = KnowHowShare
    serializer_class = KnowHowShareSerializer
    read_capability = roles.READ
    write_capability = roles.WRITE_ENABLEMENT
    filterset_class = KnowHowShareFilter
    http_method_names = ["get", "post", "head", "options"]

    def scope_queryset(self, queryset):
        return queryset.select_related("shared_by")

    def perform_create(self, serializer):
        serializer.instance = hearing_services.know_how_share(
            tenant=self.request.tenant,
            shared_by=acting_user(self.request),
            **serializer.validated_data,
        )


class KnowHowEffectViewSet(TenantAPIMixin, viewsets.ViewSet):
    """The effect of know-how on the reps it reached against similar reps it did not
    reach (``GET /api/v1/know-how/{id}/effect/``; all know-how together:
    ``GET /api/v1/know-how/effect/``): difference in differences of activation and win
    rate, N days after each share against N days before, with n per group and a bootstrap
    95% interval; measured every night. Members and read-scoped keys read it. When the
    groups are too small, the figures are null and ``message`` says why. Correlation, not
    causation."""

    read_capability = roles.READ_RESULTS

    @extend_schema(responses=KnowHowEffectSerializer, operation_id="v1_know_how_effect_retrieve")
    def retrieve(self, request, pk=None):
        """The effect of one piece of know-how."""
        know_how = get_object_or_404(KnowHow.objects.only("pk"), pk=pk)
        data = know_how_effect(tenant=request.tenant, know_how_id=know_how.pk)
        return Response(KnowHowEffectSerializer(data).data)

    @extend_schema(
        responses=KnowHowEffectSerializer, operation_id="v1_know_how_effect_overall_retrieve"
    )
    def overall(self, request):
        """The effect of all know-how together: a rep counts from the first share of any
        know-how that reached them."""
        data = know_how_effect(tenant=request.tenant, know_how_id=None)
        return Response(KnowHowEffectSerializer(data).data)
