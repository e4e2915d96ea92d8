"""Fuzzing the API against its own live OpenAPI schema (Schemathesis), every check on.

Every operation of /api/schema/ is called in-process (WSGI, the test database) as a tenant
owner (session with CSRF: owners hold every capability), in the three phases that
``schemathesis run`` runs per operation: the schema's examples, the coverage phase (each
boundary, pattern, enum, missing and extra value, unsupported method and content type) and
fuzzing (``MAX_EXAMPLES`` valid and invalid requests). Every check Schemathesis has is on,
as ``schemathesis run -c all`` turns them on: no 5xx; status codes, content types, headers
and bodies as documented; invalid input refused with a 4xx and valid input accepted;
missing credentials refused; an unsupported method answered 405 with its Allow header.
(The CLI's fourth phase, stateful, follows OpenAPI links; this schema declares none.)
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
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig
from schemathesis.generation.modes import GenerationMode

from pse_crm.api.fields import SALESFORCE_ID_FORMAT
from pse_crm.roles import Role
from pse_crm.sfid import to_18
from tests.activities.factories import DealFactory, MaterialViewFactory
from tests.factories import MembershipFactory
from tests.partners.factories import PartnerFactory

# Fuzzing examples per operation (valid and invalid together), on top of the schema's
# examples and the coverage phase's cases. Measured 2026-12-02: 88 operations, about 9,400
# requests (6,800 coverage, 2,640 fuzzing), 1 min 20 s; with these settings the run found
# the 40 failing operations of the API before issue 15 (HTML 404s, NUL in query strings).
MAX_EXAMPLES = 30


# What ``format: salesforce-id`` means beyond its pattern: an 18-character id carries the
# checksum suffix of its first 15 characters. Valid ids are drawn as Salesforce makes them.
_ID_15 = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    min_size=15,
    max_size=15,
)
schemathesis.openapi.format(SALESFORCE_ID_FORMAT, st.one_of(_ID_15, _ID_15.map(to_18)))


def _config() -> SchemathesisConfig:
    """``schemathesis run -c all --phases examples,coverage,fuzzing -m all``, in Python."""
    config = SchemathesisConfig()
    project = config.projects.override
    project.checks.update(included_check_names=["all"])
    project.phases.update(phases=["examples", "coverage", "fuzzing"])
    project.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=MAX_EXAMPLES,
        deterministic=True,
        database="none",
    )
    return config


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
    loaded = schemathesis.openapi.from_dict(json.loads(raw), config=_config())
    loaded.app = get_wsgi_application()
    return loaded


SCHEMA = _load_schema()
OPERATIONS = {
    result.ok().label: result.ok() for result in SCHEMA.get_all_operations() if result.ok()
}


def test_the_schema_has_the_api():
    assert len(OPERATIONS) >= 20
    assert any(label.startswith("POST /api/v1/deals/sync") for label in OPERATIONS)


def test_every_check_is_on():
    project = SCHEMA.config
    names = [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "positive_data_acceptance",
        "missing_required_header",
        "unsupported_method",
        "allow_header_conformance",
        "ignored_auth",
    ]
    assert all(project.checks.get_by_name(name=name).enabled for name in names)


@pytest.mark.django_db
@SCHEMA.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_operation_conforms_to_the_schema(case, owner_headers):
    case.call_and_validate(headers=owner_headers)


def _raw_schema() -> dict:
    return SCHEMA.raw_schema


def test_the_schema_documents_salesforce_ids_lengths_and_enums():
    components = _raw_schema()["components"]["schemas"]
    external_id = components["PartnerBulkRecordRequest"]["properties"]["external_id"]
    assert external_id["format"] == SALESFORCE_ID_FORMAT
    assert external_id["pattern"] == r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$"
    assert external_id["maxLength"] == 18
    partner = components["PartnerRequest"]["properties"]
    assert partner["name"]["maxLength"] == 200 and partner["name"]["pattern"]
    assert "$ref" in str(partner["status"]) or "enum" in partner["status"]


def test_the_schema_documents_each_error_as_the_api_answers_it():
    paths = _raw_schema()["paths"]
    bulk = paths["/api/v1/partners/bulk/"]["post"]["responses"]["400"]
    assert bulk["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/BatchError"
    }
    single = paths["/api/v1/partners/"]["post"]["responses"]["400"]
    assert "anyOf" in single["content"]["application/json"]["schema"]
    for code in ("401", "403", "404", "429"):
        assert code in paths["/api/v1/segments/"]["get"]["responses"], code
    for code in ("409", "413", "415"):
        assert code in paths["/api/v1/deals/sync/"]["post"]["responses"], code
