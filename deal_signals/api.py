"""``/api/v1/deal-signals/`` and ``/api/v1/deal-signal-rules/``.

Signals: read by every member, handled (``PATCH``) by staff, managers and owners. Rules:
read by every member, changed by managers and owners. Another tenant's signal is a 404.
"""

from __future__ import annotations

import django_filters
from django.db.models import Prefetch
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, permissions
from rest_framework.response import Response

from activities.models import MaterialView
from deal_signals.models import DealSignal, SignalKind, SignalRule
from deal_signals.selectors import deal_signal_rule_outcomes, signal_rules_get
from deal_signals.serializers import (
    DealSignalSerializer,
    DealSignalUpdateSerializer,
    SignalRuleSerializer,
)
from deal_signals.services.signals import (
    deal_signal_create_task,
    deal_signal_dismiss,
    signal_rule_update,
    signal_rules_ensure,
)
from pse_crm import roles
from pse_crm.api.viewsets import TenantModelViewSet
from pse_crm.permissions import request_allows


class DealSignalFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=SignalKind.choices)
    status = django_filters.ChoiceFilter(choices=DealSignal.Status.choices)
    partner = django_filters.NumberFilter(field_name="partner_id")
    rep = django_filters.NumberFilter(field_name="rep_id")

    class Meta:
        model = DealSignal
        fields: list[str] = []


class DealSignalViewSet(TenantModelViewSet):
    """The signals inbox, newest first. ``PATCH`` dismisses (with a reason) or acts."""

    model = DealSignal
    serializer_class = DealSignalSerializer
    read_capability = roles.READ_RESULTS
    write_capability = roles.WRITE_ENABLEMENT
    filterset_class = DealSignalFilter
    # Newest first; the id grows with creation time and keeps cursor pages stable.
    ordering = ["-pk"]
    ordering_fields = ["pk", "created_at"]
    http_method_names = ["get", "patch", "head", "options"]

    def scope_queryset(self, queryset):
        return queryset.select_related("rep", "partner").prefetch_related(
            Prefetch("views", queryset=MaterialView.objects.only("pk"))
        )

    @extend_schema(request=DealSignalUpdateSerializer, responses=DealSignalSerializer)
    def partial_update(self, request, *args, **kwargs):
        signal = self.get_object()
        payload = DealSignalUpdateSerializer(data=request.data, context={"request": request})
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        if data.get("assignee") is not None and not request_allows(request, roles.MANAGE):
            # Assigning work to someone else is a manager's call, here as everywhere.
            raise exceptions.PermissionDenied(_("Only a manager may assign the task to someone."))
        if data["status"] == DealSignal.Status.DISMISSED:
            deal_signal_dismiss(signal=signal, user=request.user, reason=data["dismiss_reason"])
        else:
            deal_signal_create_task(
                signal=signal,
                user=request.user,
                assignee=data.get("assignee"),
                kind=data["task_kind"],
                due_on=data.get("due_on"),
            )
        return Response(self.get_serializer(self.get_queryset().get(pk=signal.pk)).data)

    def update(self, request, *args, **kwargs):
        if not kwargs.get("partial"):
            return self.http_method_not_allowed(request, *args, **kwargs)
        return super().update(request, *args, **kwargs)


_KIND = OpenApiParameter(
    "kind",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    enum=SignalKind.values,
    description="Rule kind.",
)


@extend_schema_view(
    retrieve=extend_schema(parameters=[_KIND]), partial_update=extend_schema(parameters=[_KIND])
)
class SignalRuleViewSet(TenantModelViewSet):
    """The tenant's deal-signal rules (one per kind), each with its outcomes so far."""

    model = SignalRule
    serializer_class = SignalRuleSerializer
    read_capability = roles.READ
    write_capability = roles.MANAGE
    lookup_field = "kind"
    pagination_class = None
    filter_backends: list = []
    http_method_names = ["get", "patch", "head", "options"]

    def _rules(self) -> dict[str, SignalRule]:
        # Reads never write (a missing rule shows the defaults); a write stores it first.
        if self.request.method in permissions.SAFE_METHODS:
            return signal_rules_get(tenant=self.request.tenant)
        return signal_rules_ensure(tenant=self.request.tenant)

    def list(self, request, *args, **kwargs):
        rules = sorted(self._rules().values(), key=lambda rule: rule.kind)
        return Response(self.get_serializer(rules, many=True).data)

    def get_object(self):
        rule = self._rules().get(self.kwargs[self.lookup_field])
        if rule is None:
            raise Http404
        self.check_object_permissions(self.request, rule)
        return rule

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if self.request.method == "GET" or self.action == "partial_update":
            context["outcomes"] = deal_signal_rule_outcomes()
        return context

    def perform_update(self, serializer):
        data = serializer.validated_data
        signal_rule_update(
            rule=serializer.instance,
            is_enabled=data.get("is_enabled"),
            threshold=data.get("threshold"),
            window_hours=data.get("window_hours"),
            material_kinds=data.get("material_kinds"),
            expiry_days=data.get("expiry_days"),
        )
