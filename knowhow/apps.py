from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class KnowhowConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "knowhow"
    verbose_name = _("Hearings and know-how")
