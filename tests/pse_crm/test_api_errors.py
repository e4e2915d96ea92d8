"""The API's one exception handler: hostile input that got past validation is a 400.

A number no integer holds (``1e309`` is infinity) reaching a lookup, and a DRF error that
quotes a lone surrogate of the input (which no UTF-8 encoder writes), used to be 500s.
"""

from __future__ import annotations

import pytest

from knowhow.models import Hearing
from partners.models import Partner
from pse_crm.tenancy import tenant_scope
from tests.partners.factories import PartnerFactory
from tests.reps.factories import RepFactory

pytestmark = pytest.mark.django_db


def test_a_number_that_overflows_a_lookup_is_a_400(staff_client, tenant):
    RepFactory(partner=PartnerFactory(tenant=tenant))
    body = '{"rep": 1e309, "held_on": "2026-03-01", "sales_approach": "x"}'
    response = staff_client.post("/api/v1/hearings/", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["detail"]
    with tenant_scope(tenant):
        assert not Hearing.objects.exists()


def test_an_error_quoting_a_lone_surrogate_renders_as_an_escape(api_client, tenant):
    partner = PartnerFactory(tenant=tenant, status=Partner.Status.ACTIVE)
    response = api_client.patch(
        f"/api/v1/partners/{partner.pk}/",
        data='{"status": "a\\ud800b"}',
        content_type="application/json",
    )
    assert response.status_code == 400
    [message] = response.json()["status"]
    assert "a\\ud800b" in message
    partner.refresh_from_db()
    assert partner.status == Partner.Status.ACTIVE
