"""Pages of deal signals: the inbox, the rules, a signal, my notification settings."""

from django.urls import path

from deal_signals import views

urlpatterns = [
    path("signals/", views.signal_inbox, name="deal-signals"),
    path("signals/rules/", views.signal_rules, name="deal-signal-rules"),
    path("signals/rules/reevaluate/", views.signal_reevaluate, name="deal-signal-reevaluate"),
    path(
        "signals/notifications/",
        views.notification_settings,
        name="deal-signal-notifications",
    ),
    path("signals/<int:pk>/", views.signal_detail, name="deal-signal"),
    path("signals/<int:pk>/act/", views.signal_act, name="deal-signal-act"),
    path("signals/<int:pk>/dismiss/", views.signal_dismiss, name="deal-signal-dismiss"),
]
