"""API routes of this app, included under /api/v1/ by pse_crm/urls.py."""

from partners.api import PartnerViewSet
from pse_crm.api.routers import APIRouter

# Every route answers with or without its trailing slash (pse_crm.api.routers).
router = APIRouter()
router.register("partners", PartnerViewSet, basename="api-partner")

urlpatterns = [*router.urls]
