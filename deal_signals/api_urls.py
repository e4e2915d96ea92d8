"""API routes of deal signals, included under /api/v1/ by pse_crm/urls.py."""

from deal_signals.api import DealSignalViewSet, SignalRuleViewSet
from pse_crm.api.routers import APIRouter

# Every route answers with or without its trailing slash (pse_crm.api.routers).
router = APIRouter()
router.register("deal-signals", DealSignalViewSet, basename="api-deal-signal")
router.register("deal-signal-rules", SignalRuleViewSet, basename="api-deal-signal-rule")

urlpatterns = router.urls
