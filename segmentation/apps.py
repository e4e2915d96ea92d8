from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SegmentationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "segmentation"
    verbose_name = _("Segmentation")

    def ready(self) -> None:
        from pse_crm.metrics import register_collector
        from segmentation import metrics

        register_collector("segmentation", metrics.collect)
