from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MomentumConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "momentum"
    verbose_name = _("Momentum")

    def ready(self) -> None:
        # Support wakes momentum (quick wins recomputed): support sends, this app listens.
        from momentum import receivers  # noqa: F401
