from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PseCrmConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "pse_crm"
    verbose_name = _("Tenancy")

    def ready(self):
        from django.db.backends.signals import connection_created
        from django.db.models.signals import post_migrate, pre_migrate

        from pse_crm import audit, checks, metrics, rls  # noqa: F401 (checks registers itself)

        # The second wall (PostgreSQL row-level security): see pse_crm/rls.py.
        connection_created.connect(rls.install, dispatch_uid="pse_crm.rls.install")
        pre_migrate.connect(rls.pre_migrate, sender=self, dispatch_uid="pse_crm.rls.pre")
        post_migrate.connect(rls.post_migrate, sender=self, dispatch_uid="pse_crm.rls.post")
        # The audit trail of the models named in settings.AUDITED_MODELS.
        audit.connect()
        # Prometheus (pse_crm/metrics.py): statements counted on every connection, and the
        # feature apps' cross-tenant aggregates (re)created after migrate.
        connection_created.connect(
            metrics.install_statement_metrics, dispatch_uid="pse_crm.metrics.statements"
        )
        post_migrate.connect(
            metrics.install_tenant_aggregates, sender=self, dispatch_uid="pse_crm.metrics.agg"
        )
