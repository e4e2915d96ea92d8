"""API routes of sales support, included under /api/v1/ by pse_crm/urls.py."""

from rest_framework.routers import SimpleRouter

from support.api import QuickWinViewSet, SupportTaskViewSet

router = SimpleRouter(trailing_slash=True)
router.register("support-tasks", SupportTaskViewSet, basename="api-support-task")
router.register("quick-wins", QuickWinViewSet, basename="api-quick-win")

urlpatterns = router.urls
