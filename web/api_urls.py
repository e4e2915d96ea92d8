"""API routes of this app (partner totals, share of wallet), included under /api/v1/ by
pse_crm/urls.py. Every route answers with or without its trailing slash."""

from pse_crm.api.routers import APIRouter, optional_slash
from web.api import PartnerTotalViewSet, ShareOfWalletView

router = APIRouter(trailing_slash=True)
router.register("partner-totals", PartnerTotalViewSet, basename="api-partner-total")

urlpatterns = [
    *optional_slash("share-of-wallet/", ShareOfWalletView.as_view(), name="api-share-of-wallet"),
    *router.urls,
]
