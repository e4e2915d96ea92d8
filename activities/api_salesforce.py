"""The Salesforce connector over the API: its status, and "Pull now" for owners."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from activities.models import SalesforcePullRun
from activities.selectors import salesforce_status
from activities.services.salesforce import SalesforceNotConnected, salesforce_pull_queue
from pse_crm import roles
from pse_crm.api.parsers import BoundedJSONParser
from pse_crm.api.viewsets import TenantAPIMixin


class SalesforcePullRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = SalesforcePullRun
        fields = [
            "id",
            "kind",
            "status",
            "trigger",
            "started_at",
            "finished_at",
            "records",
            "pages",
            "soft_deleted",
            "watermark_before",
            "watermark_after",
            "error",
        ]
        read_only_fields = fields


class SalesforceConnectionStatusSerializer(serializers.Serializer):
    org_id = serializers.CharField()
    instance_url = serializers.CharField()
    api_version = serializers.CharField()
    is_multicurrency = serializers.BooleanField(allow_null=True)
    watermark = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField(help_text=_("The last run's error in plain words."))
    connected_at = serializers.DateTimeField(source="created_at")


class SalesforceStatusSerializer(serializers.Serializer):
    connected = serializers.SerializerMethodField()
    connection = SalesforceConnectionStatusSerializer(allow_null=True)
    running = serializers.BooleanField()
    last_pull = SalesforcePullRunSerializer(allow_null=True)
    last_reconcile = SalesforcePullRunSerializer(allow_null=True)
    last_success_at = serializers.DateTimeField(allow_null=True)
    lag_seconds = serializers.IntegerField(
        allow_null=True,
        help_text=_(
            "Seconds since the last successful pull began: Salesforce changes made before "
            "then are in. Null before the first."
        ),
    )
    resync_count = serializers.IntegerField()
    resync_ids = serializers.ListField(child=serializers.CharField())
    recent_runs = SalesforcePullRunSerializer(many=True)

    def get_connected(self, obj) -> bool:
        return obj.connection is not None


class SalesforceViewSet(TenantAPIMixin, viewsets.ViewSet):
    """The tenant's Salesforce connector. The secret never appears here."""

    read_capability = roles.MANAGE | {roles.INTEGRATION}
    write_capability = roles.OWN
    parser_classes = [BoundedJSONParser]

    @extend_schema(
        summary=str(_("The Salesforce connector's status")),
        responses={200: SalesforceStatusSerializer},
    )
    @action(detail=False, methods=["get"], url_path="status")
    def status(self, request):
        return Response(SalesforceStatusSerializer(salesforce_status(tenant=request.tenant)).data)

    @extend_schema(
        summary=str(_("Queue a pull of the connected org now (owners)")),
        request=inline_serializer(
            "SalesforcePullRequest",
            {"full": serializers.BooleanField(required=False, default=False)},
        ),
        responses={
            202: inline_serializer("SalesforcePullQueued", {"detail": serializers.CharField()}),
            409: inline_serializer("SalesforceNotConnected", {"detail": serializers.CharField()}),
        },
    )
    @action(detail=False, methods=["post"], url_path="pull")
    def pull(self, request):
        body = request.data if isinstance(request.data, dict) else {}
        full = serializers.BooleanField(required=False).run_validation(body.get("full", False))
        try:
            salesforce_pull_queue(tenant=request.tenant, full=full)
        except SalesforceNotConnected as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response({"detail": str(_("Pull queued."))}, status=status.HTTP_202_ACCEPTED)
