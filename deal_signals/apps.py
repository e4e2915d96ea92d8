from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DealSignalsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "deal_signals"
    verbose_name = _("Deal signals")

    def ready(self) -> None:
        # Ingestion wakes deal signals: activities sends, this app listens.
        from deal_signals import metrics, receivers  # noqa: F401
        from pse_crm.metrics import register_collector

        register_collector("deal_signals", metrics.collect)
