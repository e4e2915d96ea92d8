from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ActivitiesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "activities"
    verbose_name = _("Activities")

    def ready(self) -> None:
        # Link deals to partners and reps that arrive after them.
        from activities import receivers  # noqa: F401
