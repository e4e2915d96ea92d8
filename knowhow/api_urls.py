"""API routes of hearings and know-how, included under /api/v1/ by pse_crm/urls.py."""

from rest_framework.routers import SimpleRouter

from knowhow.api import HearingViewSet, KnowHowShareViewSet, KnowHowViewSet

router = SimpleRouter(trailing_slash=True)
router.register("hearings", HearingViewSet, basename="api-hearing")
router.register("know-how", KnowHowViewSet, basename="api-know-how")
router.register("know-how-shares", KnowHowShareViewSet, basename="api-know-how-share")

urlpatterns = router.urls
