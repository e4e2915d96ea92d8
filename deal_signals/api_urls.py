"""API routes of deal signals, included under /api/v1/ by pse_crm/urls.py."""

from rest_framework.routers import SimpleRouter

from deal_signals.api import DealSignalViewSet, SignalRuleViewSet

router = SimpleRouter(trailing_slash=True)
router.register("deal-signals", DealSignalViewSet, basename="api-deal-signal")
router.register("deal-signal-rules", SignalRuleViewSet, basename="api-deal-signal-rule")

urlpatterns = router.urls
