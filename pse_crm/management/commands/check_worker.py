from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from pse_crm.management.tenants import tenant_from_slug
from pse_crm.tasks import worker_check


class Command(BaseCommand):
    help = (
        "Send a diagnostic task to the Celery worker and print what it saw in the tenant's scope."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--timeout", type=float, default=10.0)

    def handle(self, *args, tenant: str, timeout: float, **options):
        tenant_obj = tenant_from_slug(tenant)
        if not settings.CELERY_RESULT_BACKEND and not settings.CELERY_TASK_ALWAYS_EAGER:
            raise CommandError("Set CELERY_RESULT_BACKEND to read the worker's answer.")
        try:
            result = worker_check.delay(tenant_obj.pk).get(timeout=timeout)
        except Exception as exc:
            raise CommandError(f"The worker did not answer: {exc}") from exc
        self.stdout.write(f"worker ok: tenant={result['tenant']} members={result['members']}")
