import pytest

from pse_crm.tasks import worker_check
from tests.factories import MembershipFactory, TenantFactory


@pytest.mark.celery_worker
def test_real_worker_enters_the_tasks_tenant_scope(celery_worker):
    acme = TenantFactory(slug="acme")
    rival = TenantFactory(slug="rival")
    MembershipFactory.create_batch(2, tenant=acme)
    MembershipFactory.create_batch(3, tenant=rival)
    assert worker_check.delay(acme.pk).get(timeout=30) == {"tenant": "acme", "members": 2}
    assert worker_check.delay(rival.pk).get(timeout=30) == {"tenant": "rival", "members": 3}


@pytest.mark.django_db
def test_task_for_unknown_tenant_fails(tenant):
    from pse_crm.models import Tenant

    with pytest.raises(Tenant.DoesNotExist):
        worker_check.apply(args=[tenant.pk + 999]).get()
