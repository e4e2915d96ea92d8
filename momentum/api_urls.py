"""API routes of momentum, included under /api/v1/ by pse_crm/urls.py."""

from momentum.api import MomentumViewSet
from pse_crm.api.routers import APIRouter

# Every route answers with or without its trailing slash (pse_crm.api.routers).
router = APIRouter()
router.register("momentum", MomentumViewSet, basename="api-momentum")

urlpatterns = router.urls
