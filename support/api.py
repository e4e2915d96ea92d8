"""API of support tasks (staff work theirs, managers assign) and quick wins (read-only)."""

from __future__ import annotations

import django_filters
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.decorators import action
from rest_framework.response import Response

from pse_crm import roles
from pse_crm.api.services import NO_DELETE, acting_user
from pse_crm.api.viewsets import TenantModelViewSet, TenantReadOnlyViewSet
from pse_crm.permissions import request_role
from support.models import QuickWin, SupportTask, SupportTaskComment
from support.selectors.quick_wins import quick_win_rates
from support.selectors.support_tasks import support_task_can_work, support_task_suggestions
from support.serializers import (
    QuickWinRateSerializer,
    QuickWinSerializer,
    SuggestionSerializer,
    SupportTaskBulkCreateSerializer,
    SupportTaskCommentSerializer,
    SupportTaskSerializer,
    SupportTaskTransitionLogSerializer,
    SupportTaskTransitionSerializer,
)
from support.services import support_tasks as task_services


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
        serializer.instance = task_services.support_task_create(
            tenant=self.request.tenant,
            assigned_by=acting_user(self.request),
            **serializer.validated_data,
        )

    def perform_update(self, serializer):
        # Who may change what, and all or nothing: the service's rule.
        serializer.instance = task_services.support_task_update(
            tenant=self.request.tenant,
            task=serializer.instance,
            by=acting_user(self.request),
            role=self._role(),
            **serializer.validated_data,
        )

    @extend_schema(request=SupportTaskTransitionSerializer, responses=SupportTaskSerializer)
    @action(detail=True, methods=["post"])
    def transition(self, request, pk=None):
        """Move the task: open → in_progress → done | cancelled (open → cancelled too)."""
        task = self.get_object()
        self._require_work(task)
        payload = SupportTaskTransitionSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        task_services.support_task_transition(
            task=task,
            to_status=payload.validated_data["status"],
            outcome_notes=payload.validated_data.get("outcome_notes"),
            by=acting_user(request),
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
        comment = task_services.support_task_comment_add(
            task=task,
            author=acting_user(request),
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
        tasks = task_services.support_task_bulk_create(
            tenant=request.tenant,
            assigned_by=acting_user(request),
            **payload.validated_data,
        )
        return Response(self.get_serializer(tasks, many=True).data, status=status.HTTP_201_CREATED)


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
    read_capability = roles.READ_RESULTS
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
        from pse_crm.tasks import enqueue_on_commit
        from support.tasks import quick_wins_recompute

        enqueue_on_commit(quick_wins_recompute, request.tenant.pk)
        return Response(status=status.HTTP_202_ACCEPTED)
