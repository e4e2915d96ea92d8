"""API routes of hearings and know-how, included under /api/v1/ by pse_crm/urls.py."""

from knowhow.api import HearingViewSet, KnowHowEffectViewSet, KnowHowShareViewSet, KnowHowViewSet
from pse_crm.api.routers import APIRouter, optional_slash

# Every route answers with or without its trailing slash (pse_crm.api.routers).
router = APIRouter()
router.register("hearings", HearingViewSet, basename="api-hearing")
router.register("know-how", KnowHowViewSet, basename="api-know-how")
router.register("know-how-shares", KnowHowShareViewSet, basename="api-know-how-share")

urlpatterns = [
    # Before the router's routes: "know-how/effect/" would otherwise read as a know-how id.
    *optional_slash(
        "know-how/effect/",
        KnowHowEffectViewSet.as_view({"get": "overall"}),
        name="api-know-how-effect-overall",
    ),
    *optional_slash(
        "know-how/<int:pk>/effect/",
        KnowHowEffectViewSet.as_view({"get": "retrieve"}),
        name="api-know-how-effect",
    ),
    *router.urls,
]
