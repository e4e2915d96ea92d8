"""Pages of this app (server-rendered). Included at the site root by pse_crm/urls.py."""

from django.urls import path

from activities import views

urlpatterns = [
    path("settings/salesforce/", views.settings_salesforce, name="settings-salesforce"),
]
