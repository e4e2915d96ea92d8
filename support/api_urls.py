"""API routes of sales support, included under /api/v1/ by pse_crm/urls.py."""

from pse_crm.api.routers import APIRouter
from support.api import QuickWinViewSet, SupportTaskViewSet

# Every route answers with or without its trailing slash (pse_crm.api.routers).
router = APIRouter()
router.register("support-tasks", SupportTaskViewSet, basename="api-support-task")
router.register("quick-wins", QuickWinViewSet, basename="api-quick-win")

urlpatterns = router.urls
