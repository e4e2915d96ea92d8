"""API routes of this app, included under /api/v1/ by pse_crm/urls.py."""

from rest_framework.routers import SimpleRouter

router = SimpleRouter(trailing_slash=True)

urlpatterns = [*router.urls]
