"""API routes of the segmentation, included under /api/v1/ by pse_crm/urls.py."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from segmentation.api import (
    PartnerSegmentViewSet,
    RepSegmentViewSet,
    SegmentationRunViewSet,
    SegmentationSettingsView,
)

router = SimpleRouter(trailing_slash=True)
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
