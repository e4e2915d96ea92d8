"""API routes of the segmentation, included under /api/v1/ by pse_crm/urls.py."""

from pse_crm.api.routers import APIRouter, optional_slash
from segmentation.api import (
    PartnerSegmentViewSet,
    RepSegmentViewSet,
    SegmentationRunViewSet,
    SegmentationSettingsView,
)

# Every route answers with or without its trailing slash (pse_crm.api.routers).
router = APIRouter()
router.register("segments", RepSegmentViewSet, basename="api-segment")
router.register("segmentation/runs", SegmentationRunViewSet, basename="api-segmentation-run")
router.register("segmentation/partners", PartnerSegmentViewSet, basename="api-segmentation-partner")

urlpatterns = [
    *optional_slash(
        "segmentation/settings/",
        SegmentationSettingsView.as_view(),
        name="api-segmentation-settings",
    ),
    *router.urls,
]
