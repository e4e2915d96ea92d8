"""Pages of this app (server-rendered). Included at the site root by pse_crm/urls.py."""

from django.urls import path

from activities import views, views_currencies, views_salesforce

urlpatterns = [
    path("settings/salesforce/", views.settings_salesforce, name="settings-salesforce"),
    path(
        "settings/salesforce/connection/",
        views_salesforce.settings_salesforce_connection,
        name="settings-salesforce-connection",
    ),
    path(
        "settings/salesforce/connection/pull/",
        views_salesforce.settings_salesforce_pull,
        name="settings-salesforce-pull",
    ),
    path(
        "settings/salesforce/connection/remove/",
        views_salesforce.settings_salesforce_disconnect,
        name="settings-salesforce-disconnect",
    ),
    path("settings/currency/", views_currencies.settings_currency, name="settings-currency"),
]
