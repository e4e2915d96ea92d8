from csp.decorators import csp_update
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from pse_crm import audit, health, metrics, views
from pse_crm.api.errors import api_not_found
from pse_crm.api.routers import optional_slash

# The split view serves its start-up script as a file (the CSP allows no inline script);
# Swagger UI sets inline styles, which this page alone allows.
swagger_ui = csp_update({"style-src": ["'unsafe-inline'"]})(
    SpectacularSwaggerSplitView.as_view(url_name="api-schema")
)

api_v1 = [
    path("", include("partners.api_urls")),
    path("", include("reps.api_urls")),
    path("", include("activities.api_urls")),
    path("", include("segmentation.api_urls")),
    path("", include("knowhow.api_urls")),
    path("", include("support.api_urls")),
    path("", include("deal_signals.api_urls")),
    path("", include("momentum.api_urls")),
    path("", include("web.api_urls")),
]

urlpatterns = [
    path("health/", views.health, name="health"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", include(api_v1)),
    *optional_slash("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    *optional_slash("api/docs/", swagger_ui, name="api-docs", twin=swagger_ui),
    # Last under /api/: any other path is the API's JSON 404, never a page or a redirect.
    re_path(r"^api/", api_not_found),
    path("admin/", admin.site.urls),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("tenant/switch/", views.switch_tenant, name="switch-tenant"),
    path("settings/audit/", audit.audit_log, name="settings-audit"),
    path("settings/members/", views.settings_members, name="settings-members"),
    path("settings/members/<int:pk>/", views.settings_member_update, name="settings-member-update"),
    path(
        "settings/invitations/<int:pk>/resend/",
        views.settings_invitation_resend,
        name="settings-invitation-resend",
    ),
    path(
        "settings/invitations/<int:pk>/revoke/",
        views.settings_invitation_revoke,
        name="settings-invitation-revoke",
    ),
    path("invitations/<str:token>/", views.invitation_accept_page, name="invitation-accept"),
    path("settings/api-keys/", views.settings_api_keys, name="settings-api-keys"),
    path(
        "settings/api-keys/<str:prefix>/revoke/",
        views.settings_api_key_revoke,
        name="settings-api-key-revoke",
    ),
    path("", include("activities.urls")),
    path("", include("segmentation.urls")),
    path("", include("knowhow.urls")),
    path("", include("support.urls")),
    path("", include("deal_signals.urls")),
    path("", include("web.urls")),
]

if settings.DEBUG:
    from django.contrib.staticfiles.urls import staticfiles_urlpatterns

    urlpatterns += staticfiles_urlpatterns()

# Errors outside DRF's views: the API's JSON shape under /api/, the usual pages elsewhere.
handler400 = "pse_crm.api.errors.bad_request"
handler403 = "pse_crm.api.errors.permission_denied"
handler404 = "pse_crm.api.errors.page_not_found"
handler500 = "pse_crm.api.errors.server_error"
