from django.apps import AppConfig


class EnablementConfig(AppConfig):
    """The former home of the method's features, kept for its migrations only.

    Its models moved to ``segmentation``, ``knowhow``, ``support``, ``deal_signals`` and
    ``momentum`` with their tables unchanged (``enablement_*``); ``0010_moved_out`` hands
    them over, so a database migrated before the move migrates forward with no data change.
    """

    default_auto_field = "django.db.models.BigAutoField"
    name = "enablement"
    verbose_name = "Enablement (history)"
