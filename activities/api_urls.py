"""API routes of this app, included under /api/v1/ by pse_crm/urls.py."""

from django.urls import re_path

from activities.api import DealViewSet, MaterialViewSet, MaterialViewViewSet
from activities.api_currencies import CurrencyRateViewSet
from activities.api_outbound import SalesforceOutboundView
from activities.api_salesforce import SalesforceViewSet
from pse_crm.api.routers import APIRouter

# Every route answers with or without its trailing slash (pse_crm.api.routers).
router = APIRouter()
router.register("materials", MaterialViewSet, basename="api-material")
router.register("material-views", MaterialViewViewSet, basename="api-material-view")
router.register("deals", DealViewSet, basename="api-deal")
router.register("currency-rates", CurrencyRateViewSet, basename="api-currency-rate")
router.register("salesforce", SalesforceViewSet, basename="api-salesforce")

urlpatterns = [
    *router.urls,
    # The key is in the path (Salesforce sends no header); with or without the slash.
    re_path(
        r"^salesforce/outbound/(?P<key>[^/]+)/?$",
        SalesforceOutboundView.as_view(),
        name="api-salesforce-outbound",
    ),
]
