"""API routes of this app, included under /api/v1/ by pse_crm/urls.py."""

from rest_framework.routers import SimpleRouter

from reps.api import RepViewSet

router = SimpleRouter(trailing_slash=True)
router.register("reps", RepViewSet, basename="api-rep")

urlpatterns = [*router.urls]
