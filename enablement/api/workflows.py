"""API of the method's daily work: hearings, know-how and its spread, support tasks, quick
wins and momentum.

Roles: every member reads; staff, managers and owners write hearings, know-how and shares;
only managers and owners create, assign and reassign support tasks; staff work (move,
note the outcome of) the tasks assigned to them; viewers read. Nothing here is deleted
through the API: a task is cancelled, history is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import Prefetch
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from enablement.models import (
    Hearing,
    KnowHow,
    KnowHowShare,
    MomentumSnapshot,
    QuickWin,
    SupportTask,
    SupportTaskComment,
)
from enablement.selectors.hearings import DEFAULT_REACH_DAYS, hearings_with_tag, know_how_reach
from enablement.selectors.momentum import momentum_indicators
from enablement.selectors.quick_wins import quick_win_rates
from enablement.selectors.support_tasks import (
    support_task_can_manage,
    support_task_can_work,
    support_task_suggestions,
)
from enablement.serializers.workflows import (
    HearingSerializer,
    KnowHowReachSerializer,
    KnowHowSerializer,
    KnowHowShareSerializer,
    MomentumIndicatorSerializer,
    MomentumSnapshotSerializer,
    QuickWinRateSerializer,
    QuickWinSerializer,
    SuggestionSerializer,
    SupportTaskBulkCreateSerializer,
    SupportTaskCommentSerializer,
    SupportTaskSerializer,
    SupportTaskTransitionLogSerializer,
    SupportTaskTransitionSerializer,
)
from enablement.services import hearings as hearing_services
from enablement.services import support_tasks as task_services
from pse_crm import roles
from pse_crm.api import TenantModelViewSet, TenantReadOnlyViewSet
from pse_crm.api_auth import request_role

T = TypeVar("T")

NO_DELETE = ["get", "post", "put", "patch", "head", "options"]


def run_service(call: Callable[..., T], **kwargs: Any) -> T:
    """Call a service; its ValidationError becomes the API's 400 with the same messages."""
    try:
        return call(**kwargs)
    except DjangoValidationError as exc:
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        raise serializers.ValidationError(detail) from None


def _acting_user(request):
    """The member behind the request (an API key has no user)."""
    return request.user if getattr(request.user, "pk", None) else None


# --- hearings and know-how ------------------------------------------------------------


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
        serializer.instance = run_service(
            hearing_services.hearing_create,
            held_by=_acting_user(self.request),
            **serializer.validated_data,
        )

    def perform_update(self, serializer):
        serializer.instance = run_service(
            hearing_services.hearing_update,
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
        serializer.instance = run_service(
            hearing_services.know_how_create,
            created_by=_acting_user(self.request),
            hearings=data.pop("hearings", []),
            **data,
        )

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        serializer.instance = run_service(
            hearing_services.know_how_update,
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
        reach = know_how_reach(days=days, know_how_ids=list(titles))
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
        serializer.instance = run_service(
            hearing_services.know_how_share,
            shared_by=_acting_user(self.request),
            **serializer.validated_data,
        )


# --- support tasks --------------------------------------------------------------------


class SupportTaskFilter(django_filters.FilterSet):
    assignee = django_filters.NumberFilter(field_name="assignee_id")
    status = django_filters.ChoiceFilter(choices=SupportTask.Status.choices)
    kind = django_filters.ChoiceFilter(choices=SupportTask.Kind.choices)
    partner = django_filters.NumberFilter(field_name="rep__partner_id")
    rep = django_filters.NumberFilter(field_name="rep_id")

    class Meta:
        model = SupportTask
        fields: list[str] = []  # every filter is declared above


class SupportTaskViewSet(TenantModelViewSet):
    """Sales-support tasks (keyman ②). Managers and owners create and assign; the assignee
    works the task; every status change is recorded."""

    model = SupportTask
    serializer_class = SupportTaskSerializer
    read_capability = roles.READ
    write_capability = roles.WRITE_ENABLEMENT
    action_capabilities = {"create": roles.MANAGE, "bulk_create": roles.MANAGE}
    filterset_class = SupportTaskFilter
    http_method_names = NO_DELETE

    def scope_queryset(self, queryset):
        return queryset.select_related("rep", "assigned_by", "quick_win")

    def _role(self) -> str | None:
        return request_role(self.request)

    def _require_work(self, task: SupportTask) -> None:
        if not support_task_can_work(task=task, user=self.request.user, role=self._role()):
            raise exceptions.PermissionDenied(_("Only the assignee or a manager may do this."))

    def perform_create(self, serializer):
        serializer.instance = run_service(
            task_services.support_task_create,
            assigned_by=_acting_user(self.request),
            **serializer.validated_data,
        )

    def perform_update(self, serializer):
        task = serializer.instance
        self._require_work(task)
        data = dict(serializer.validated_data)
        # Fields sent with their current value are not changes.
        changes = {k: v for k, v in data.items() if getattr(task, k) != v}
        if not support_task_can_manage(role=self._role()):
            forbidden = set(changes) - task_services.ASSIGNEE_FIELDS
            if forbidden:
                raise exceptions.PermissionDenied(
                    _("Only a manager may change: %(fields)s.")
                    % {"fields": ", ".join(sorted(forbidden))}
                )
        if "rep" in changes:
            raise serializers.ValidationError(
                {"rep": [_("A task's rep cannot change; cancel it and create another.")]}
            )
        assignee = changes.pop("assignee", None)
        by = _acting_user(self.request)
        # Both or neither: a refused reassignment must not leave the other changes saved.
        with transaction.atomic():
            if changes:
                run_service(task_services.support_task_update, task=task, by=by, **changes)
            if assignee is not None:
                run_service(task_services.support_task_assign, task=task, assignee=assignee, by=by)
        serializer.instance = task

    @extend_schema(request=SupportTaskTransitionSerializer, responses=SupportTaskSerializer)
    @action(detail=True, methods=["post"])
    def transition(self, request, pk=None):
        """Move the task: open → in_progress → done | cancelled (open → cancelled too)."""
        task = self.get_object()
        self._require_work(task)
        payload = SupportTaskTransitionSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        run_service(
            task_services.support_task_transition,
            task=task,
            to_status=payload.validated_data["status"],
            outcome_notes=payload.validated_data.get("outcome_notes"),
            by=_acting_user(request),
        )
        task = self.get_queryset().get(pk=task.pk)
        return Response(self.get_serializer(task).data)

    @extend_schema(responses=SupportTaskTransitionLogSerializer(many=True))
    @action(detail=True, methods=["get"])
    def history(self, request, pk=None):
        """Every status change of the task: who, when, from, to."""
        task = self.get_object()
        rows = task.transitions.select_related("changed_by").order_by("changed_at", "pk")
        return Response(SupportTaskTransitionLogSerializer(rows, many=True).data)

    @extend_schema(methods=["get"], request=None, responses=SupportTaskCommentSerializer(many=True))
    @extend_schema(
        methods=["post"],
        request=SupportTaskCommentSerializer,
        responses={201: SupportTaskCommentSerializer},
    )
    @action(detail=True, methods=["get", "post"])
    def comments(self, request, pk=None):
        """The task's comments; any member who writes may add one."""
        task = self.get_object()
        if request.method == "GET":
            rows = SupportTaskComment.objects.filter(task=task).select_related("author")
            return Response(SupportTaskCommentSerializer(rows, many=True).data)
        payload = SupportTaskCommentSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        comment = run_service(
            task_services.support_task_comment_add,
            task=task,
            author=_acting_user(request),
            body=payload.validated_data["body"],
        )
        return Response(SupportTaskCommentSerializer(comment).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[
            OpenApiParameter("partner", OpenApiTypes.INT),
            OpenApiParameter("limit", OpenApiTypes.INT, description=_("At most 500.")),
        ],
        responses=SuggestionSerializer(many=True),
    )
    @action(detail=False, methods=["get"])
    def suggestions(self, request):
        """Motivated reps of the current run with no open task, newest movers first."""
        try:
            partner = request.query_params.get("partner")
            partner_id = int(partner) if partner else None
            limit = min(int(request.query_params.get("limit", 100)), 500)
        except ValueError:
            raise exceptions.ValidationError(_("partner and limit are whole numbers.")) from None
        rows = support_task_suggestions(partner_id=partner_id, limit=max(limit, 1))
        return Response(SuggestionSerializer(rows, many=True).data)

    @extend_schema(
        request=SupportTaskBulkCreateSerializer,
        responses={201: SupportTaskSerializer(many=True)},
    )
    @action(detail=False, methods=["post"], url_path="bulk")
    def bulk_create(self, request):
        """Create one task per rep (e.g. for several suggested reps at once). All or none."""
        payload = SupportTaskBulkCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        tasks = run_service(
            task_services.support_task_bulk_create,
            assigned_by=_acting_user(request),
            **payload.validated_data,
        )
        return Response(self.get_serializer(tasks, many=True).data, status=status.HTTP_201_CREATED)


# --- quick wins and momentum ----------------------------------------------------------


class QuickWinFilter(django_filters.FilterSet):
    outcome = django_filters.ChoiceFilter(choices=QuickWin.Outcome.choices)
    assignee = django_filters.NumberFilter(field_name="task__assignee_id")
    partner = django_filters.NumberFilter(field_name="task__rep__partner_id")
    kind = django_filters.ChoiceFilter(field_name="task__kind", choices=SupportTask.Kind.choices)

    class Meta:
        model = QuickWin
        fields: list[str] = []  # every filter is declared above


class QuickWinViewSet(TenantReadOnlyViewSet):
    """The quick-win outcome of every started support task, and rates by group."""

    model = QuickWin
    serializer_class = QuickWinSerializer
    read_capability = roles.READ
    write_capability = roles.MANAGE
    filterset_class = QuickWinFilter
    lookup_field = "task"

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "group_by",
                OpenApiTypes.STR,
                enum=["assignee", "partner", "kind", "month"],
                required=True,
            )
        ],
        responses=QuickWinRateSerializer(many=True),
    )
    @action(detail=False, methods=["get"])
    def rates(self, request):
        """Quick-win rate by assignee, partner, task kind or month of the support start."""
        group_by = request.query_params.get("group_by", "")
        if group_by not in ("assignee", "partner", "kind", "month"):
            raise exceptions.ValidationError(
                {"group_by": [_("One of: assignee, partner, kind, month.")]}
            )
        queryset = self.filter_queryset(self.get_queryset())
        return Response(
            QuickWinRateSerializer(
                quick_win_rates(group_by=group_by, queryset=queryset), many=True
            ).data
        )

    @extend_schema(request=None, responses={202: None})
    @action(detail=False, methods=["post"])
    def recompute(self, request):
        """Recompute every task's quick-win outcome now (managers and owners)."""
        from enablement.tasks import quick_wins_recompute
        from pse_crm.tasks import enqueue_on_commit

        enqueue_on_commit(quick_wins_recompute, request.tenant.pk)
        return Response(status=status.HTTP_202_ACCEPTED)


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
    read_capability = roles.READ
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
                momentum_indicators().items(), key=lambda kv: (kv[0] is not None, kv[0] or 0)
            )
        ]
        return Response(MomentumIndicatorSerializer(rows, many=True).data)
