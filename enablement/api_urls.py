"""API routes of this app, included under /api/v1/ by pse_crm/urls.py."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from enablement.api.segmentation import (
    PartnerSegmentViewSet,
    RepSegmentViewSet,
    SegmentationRunViewSet,
    SegmentationSettingsView,
)
from enablement.api.signals import DealSignalViewSet, SignalRuleViewSet
from enablement.api.workflows import (
    HearingViewSet,
    KnowHowShareViewSet,
    KnowHowViewSet,
    MomentumViewSet,
    QuickWinViewSet,
    SupportTaskViewSet,
)

router = SimpleRouter(trailing_slash=True)
router.register("deal-signals", DealSignalViewSet, basename="api-deal-signal")
router.register("deal-signal-rules", SignalRuleViewSet, basename="api-deal-signal-rule")
router.register("hearings", HearingViewSet, basename="api-hearing")
router.register("know-how", KnowHowViewSet, basename="api-know-how")
router.register("know-how-shares", KnowHowShareViewSet, basename="api-know-how-share")
router.register("support-tasks", SupportTaskViewSet, basename="api-support-task")
router.register("quick-wins", QuickWinViewSet, basename="api-quick-win")
router.register("momentum", MomentumViewSet, basename="api-momentum")

router.register("segments", RepSegmentViewSet, basename="api-segment")
router.register("segmentation/runs", SegmentationRunViewSet, basename="api-segmentation-run")
router.register("segmentation/partners", PartnerSegmentViewSet, basename="api-segmentation-partner")

urlpatterns = [
    path(
        "segmentation/settings/",
        SegmentationSettingsView.as_view(),
        name="api-segmentation-settings",
    ),
    *router.urls,
]
