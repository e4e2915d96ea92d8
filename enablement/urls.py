"""Pages of this app (server-rendered). Included at the site root by pse_crm/urls.py."""

from django.urls import path

from enablement.views import signals as signal_views

urlpatterns: list = [
    # Deal signals
    path("signals/", signal_views.signal_inbox, name="deal-signals"),
    path("signals/rules/", signal_views.signal_rules, name="deal-signal-rules"),
    path(
        "signals/notifications/",
        signal_views.notification_settings,
        name="deal-signal-notifications",
    ),
    path("signals/<int:pk>/", signal_views.signal_detail, name="deal-signal"),
    path("signals/<int:pk>/act/", signal_views.signal_act, name="deal-signal-act"),
    path("signals/<int:pk>/dismiss/", signal_views.signal_dismiss, name="deal-signal-dismiss"),
]
