"""Pages of this app (server-rendered). Included at the site root by pse_crm/urls.py."""

urlpatterns: list = []
