"""API of the keyman segmentation.

* ``GET /api/v1/segments/``: the current run's rep segments; filters ``quadrant``,
  ``tier`` (``top``, ``middle``, ``bottom`` or ``none``), ``partner``.
* ``GET /api/v1/segmentation/partners/``: the current run's per-partner figures, with
  each tier's actual share and the first-performer playbook (``needs_first_performer``,
  ``first_performer_candidates``: rep ids for ``POST /api/v1/support-tasks/bulk/``;
  ``days_to_first_performer``); filter ``needs_first_performer``.
* ``POST /api/v1/segmentation/runs/``: request a run (202; it runs on a worker), then
  ``GET /api/v1/segmentation/runs/{id}/`` for its status and statistics.
* ``GET|PUT|PATCH /api/v1/segmentation/settings/``: the tenant's settings.

Every member reads; so does an API key with the ``read`` scope (segments and partner
figures only: runs and settings are members' work). Owners and managers request runs
and edit the settings. Statistics
are correlation, not causation, and say so.
"""

from __future__ import annotations

import django_filters
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.response import Response

from pse_crm import roles
from pse_crm.api.viewsets import TenantAPIMixin, TenantModelViewSet, TenantReadOnlyViewSet
from segmentation.models import PartnerSegment, Quadrant, RepSegment, SegmentationRun, Tier
from segmentation.selectors import UNTIERED, rep_segments_of_partner, segmentation_settings_get
from segmentation.serializers import (
    PartnerSegmentSerializer,
    RepSegmentSerializer,
    SegmentationRunDetailSerializer,
    SegmentationRunInProgressSerializer,
    SegmentationRunRequestSerializer,
    SegmentationRunSerializer,
    SegmentationSettingsSerializer,
)
from segmentation.services.recompute import (
    SegmentationRunInProgress,
    segmentation_recompute_start,
)
from segmentation.services.settings import segmentation_settings_update


class RepSegmentFilter(django_filters.FilterSet):
    quadrant = django_filters.ChoiceFilter(choices=Quadrant.choices)
    tier = django_filters.ChoiceFilter(
        choices=[*Tier.choices, (UNTIERED, _("No tier (partner too small)"))],
        method="filter_tier",
    )
    partner = django_filters.NumberFilter(
        method="filter_partner",
        label=_("partner (its reps now, as segmented in the run)"),
    )
    moved = django_filters.BooleanFilter(method="filter_moved", label=_("quadrant changed"))

    class Meta:
        model = RepSegment
        fields = ["quadrant", "tier", "partner", "moved"]

    def filter_partner(self, queryset, name, value):
        return rep_segments_of_partner(queryset, partner_id=value)

    def filter_tier(self, queryset, name, value):
        if value == UNTIERED:
            return queryset.filter(tier__isnull=True)
        return queryset.filter(tier=value)

    def filter_moved(self, queryset, name, value):
        changed = Q(previous_quadrant__isnull=False) & ~Q(previous_quadrant=F("quadrant"))
        return queryset.filter(changed) if value else queryset.exclude(changed)


class PartnerSegmentFilter(django_filters.FilterSet):
    is_tiered = django_filters.BooleanFilter()
    needs_first_performer = django_filters.BooleanFilter()

    class Meta:
        model = PartnerSegment
        fields = ["is_tiered", "needs_first_performer"]


class SegmentationRunFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=SegmentationRun.Status.choices)
    trigger = django_filters.ChoiceFilter(choices=SegmentationRun.Trigger.choices)
    is_current = django_filters.BooleanFilter()

    class Meta:
        model = SegmentationRun
        fields = ["status", "trigger", "is_current"]


class RepSegmentViewSet(TenantReadOnlyViewSet):
    """The current run's rep segments (empty before the first run)."""

    model = RepSegment
    serializer_class = RepSegmentSerializer
    read_capability = roles.READ_RESULTS
    filterset_class = RepSegmentFilter
    ordering_fields = ["score", "views", "won_amount", "won_deals", "id"]

    def scope_queryset(self, queryset):
        # The current run's rows (as ``rep_segments_current``): one indexed lookup.
        return queryset.filter(run__is_current=True).select_related("rep", "partner")


class PartnerSegmentViewSet(TenantReadOnlyViewSet):
    """The current run's per-partner figures: activation, keymen, correlation."""

    model = PartnerSegment
    serializer_class = PartnerSegmentSerializer
    read_capability = roles.READ_RESULTS
    filterset_class = PartnerSegmentFilter
    ordering_fields = [
        "activation_rate",
        "active_reps",
        "reps",
        "won_amount",
        "days_to_first_performer",
        "id",
    ]

    def scope_queryset(self, queryset):
        return queryset.filter(run__is_current=True).select_related("partner")


class SegmentationRunViewSet(TenantModelViewSet):
    """Runs, newest first. ``POST`` requests one; it runs on a worker (202)."""

    model = SegmentationRun
    serializer_class = SegmentationRunSerializer
    read_capability = roles.READ
    write_capability = roles.MANAGE
    http_method_names = ["get", "post", "head", "options"]
    filterset_class = SegmentationRunFilter

    def scope_queryset(self, queryset):
        return queryset.order_by("-created_at", "-pk")

    def get_serializer_class(self):
        if self.action == "retrieve":
            return SegmentationRunDetailSerializer
        if self.action == "create":
            return SegmentationRunRequestSerializer
        return SegmentationRunSerializer

    @extend_schema(
        request=SegmentationRunRequestSerializer,
        responses={202: SegmentationRunSerializer, 409: SegmentationRunInProgressSerializer},
    )
    def create(self, request, *args, **kwargs):
        incoming = SegmentationRunRequestSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        user = request.user if getattr(request.user, "pk", None) else None
        try:
            run = segmentation_recompute_start(
                tenant=request.tenant,
                as_of=incoming.validated_data.get("as_of"),
                requested_by=user,
            )
        except SegmentationRunInProgress as exc:
            # The run in progress, with 409: the caller follows it instead of a new one.
            body = {"detail": str(exc), "run": SegmentationRunSerializer(exc.run).data}
            return Response(body, status=status.HTTP_409_CONFLICT)
        return Response(SegmentationRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class SegmentationSettingsView(TenantAPIMixin, generics.GenericAPIView):
    """The tenant's segmentation and quick-win settings (defaults until first saved)."""

    serializer_class = SegmentationSettingsSerializer
    read_capability = roles.READ
    write_capability = roles.MANAGE

    def get(self, request, *args, **kwargs):
        obj = segmentation_settings_get(tenant=request.tenant)
        return Response(self.get_serializer(obj).data)

    def put(self, request, *args, **kwargs):
        return self._save(request, partial=False)

    def patch(self, request, *args, **kwargs):
        return self._save(request, partial=True)

    def _save(self, request, *, partial: bool):
        current = segmentation_settings_get(tenant=request.tenant)
        incoming = self.get_serializer(current, data=request.data, partial=partial)
        incoming.is_valid(raise_exception=True)
        user = request.user if getattr(request.user, "pk", None) else None
        saved = segmentation_settings_update(
            tenant=request.tenant, user=user, **incoming.validated_data
        )
        return Response(self.get_serializer(saved).data)
