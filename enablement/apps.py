from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EnablementConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "enablement"
    verbose_name = _("Enablement")

    def ready(self) -> None:
        # Connect the listeners to ingestion (activities sends, enablement listens).
        from enablement import receivers  # noqa: F401
