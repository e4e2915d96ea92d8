"""API routes of this app, included under /api/v1/ by pse_crm/urls.py."""

from rest_framework.routers import SimpleRouter

from partners.api import PartnerViewSet

router = SimpleRouter(trailing_slash=True)
router.register("partners", PartnerViewSet, basename="api-partner")

urlpatterns = [*router.urls]
