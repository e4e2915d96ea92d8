"""API routes of this app, included under /api/v1/ by pse_crm/urls.py."""

from pse_crm.api.routers import APIRouter
from reps.api import RepViewSet

# Every route answers with or without its trailing slash (pse_crm.api.routers).
router = APIRouter()
router.register("reps", RepViewSet, basename="api-rep")

urlpatterns = [*router.urls]
