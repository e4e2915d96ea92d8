"""API routes of this app, included under /api/v1/ by pse_crm/urls.py."""

from rest_framework.routers import SimpleRouter

from activities.api import DealViewSet, MaterialViewSet, MaterialViewViewSet

router = SimpleRouter(trailing_slash=True)
router.register("materials", MaterialViewSet, basename="api-material")
router.register("material-views", MaterialViewViewSet, basename="api-material-view")
router.register("deals", DealViewSet, basename="api-deal")

urlpatterns = [*router.urls]
