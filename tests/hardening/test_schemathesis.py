"""Fuzzing the API against its own live OpenAPI schema (Schemathesis).

Every operation of /api/schema/ is called in-process (WSGI, the test database) with a
bounded number of generated requests, valid and invalid, as a tenant owner (session
with CSRF: owners hold every capability). Checked: no 5xx, responses conform to the
schema, and invalid data is rejected with a 4xx.
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.middleware.csrf import _get_new_csrf_string
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from pse_crm.roles import Role
from tests.activities.factories import DealFactory, MaterialViewFactory
from tests.factories import MembershipFactory
from tests.partners.factories import PartnerFactory

# Per operation and mode (valid, invalid): about 75 operations, bounded to ~1.5 minutes.
MAX_EXAMPLES = 5
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


def _session_cookie(user) -> str:
    from importlib import import_module

    store = import_module(django_settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.save()
    return store.session_key


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """Like Django's test client: a request must not close the test's connection."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def owner_headers(tenant, other_tenant):
    owner = MembershipFactory(tenant=tenant, role=Role.OWNER).user
    for t in (tenant, other_tenant):
        partner = PartnerFactory(tenant=t)
        deal = DealFactory(tenant=t, rep__partner=partner, partner=partner)
        MaterialViewFactory(tenant=t, rep=deal.rep, material__tenant=t)
    csrf = _get_new_csrf_string()
    return {
        "Cookie": f"sessionid={_session_cookie(owner)}; csrftoken={csrf}",
        "X-CSRFToken": csrf,
        "Referer": "http://localhost/",
    }


def _load_schema():
    """The live schema, as /api/schema/ serves it, bound to the WSGI app (in-process)."""
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    raw = OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True))
    loaded = schemathesis.openapi.from_dict(json.loads(raw))
    loaded.app = get_wsgi_application()
    return loaded


SCHEMA = _load_schema()
OPERATIONS = {
    result.ok().label: result.ok() for result in SCHEMA.get_all_operations() if result.ok()
}


def test_the_schema_has_the_api():
    assert len(OPERATIONS) >= 20
    assert any(label.startswith("POST /api/v1/deals/sync") for label in OPERATIONS)


@pytest.mark.django_db
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_operation_conforms_to_the_schema(label, mode, owner_headers):
    operation = OPERATIONS[label]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def run(case):
        case.call_and_validate(headers=owner_headers, checks=CHECKS)

    run()
