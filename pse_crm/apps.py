from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PseCrmConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "pse_crm"
    verbose_name = _("Tenancy")
