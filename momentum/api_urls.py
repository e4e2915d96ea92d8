"""API routes of momentum, included under /api/v1/ by pse_crm/urls.py."""

from rest_framework.routers import SimpleRouter

from momentum.api import MomentumViewSet

router = SimpleRouter(trailing_slash=True)
router.register("momentum", MomentumViewSet, basename="api-momentum")

urlpatterns = router.urls
