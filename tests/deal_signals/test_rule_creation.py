"""Signal rules are written when a tenant is created (and, for older tenants, by a data
migration); reading them, on the page or over the API, never writes."""

from __future__ import annotations

import importlib

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from deal_signals.models import SignalKind, SignalRule
from pse_crm.tenancy import tenant_scope
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db

RULES = "/api/v1/deal-signal-rules/"
MIGRATION = "0003_signal_rules_for_every_tenant"


def _rules(tenant) -> dict[str, SignalRule]:
    with tenant_scope(tenant):
        return {rule.kind: rule for rule in SignalRule.objects.all()}


def _writes(queries) -> list[str]:
    """Statements that wrote anything but the session (logging in writes the session)."""
    return [
        q["sql"]
        for q in queries
        if q["sql"].lstrip().split(" ", 1)[0].upper() in {"INSERT", "UPDATE", "DELETE"}
        and "django_session" not in q["sql"]
    ]


def test_a_new_tenant_has_every_rule_with_the_defaults():
    tenant = TenantFactory(slug="fresh")
    rules = _rules(tenant)
    assert set(rules) == set(SignalKind.values)
    for kind, defaults in SignalRule.DEFAULTS.items():
        assert {name: getattr(rules[kind], name) for name in defaults} == defaults


def test_the_migration_fills_in_tenants_without_rules_and_keeps_changed_ones(tenant, other_tenant):
    with tenant_scope(tenant):
        SignalRule.objects.exclude(kind=SignalKind.BURST).delete()
        SignalRule.objects.filter(kind=SignalKind.BURST).update(threshold=7)
    with tenant_scope(other_tenant):
        SignalRule.objects.all().delete()
    migration = importlib.import_module(f"deal_signals.migrations.{MIGRATION}")
    state = MigrationExecutor(connection).loader.project_state(("deal_signals", MIGRATION))
    migration.create_missing_rules(state.apps, connection.schema_editor(atomic=False))
    for t in (tenant, other_tenant):
        assert set(_rules(t)) == set(SignalKind.values)
    assert _rules(tenant)[SignalKind.BURST].threshold == 7
    assert _rules(other_tenant)[SignalKind.BURST].threshold == 3
    late = _rules(other_tenant)[SignalKind.LATE_STAGE]
    assert late.material_kinds == SignalRule.DEFAULTS[SignalKind.LATE_STAGE]["material_kinds"]


@pytest.fixture
def without_burst_rule(tenant):
    # A rule deleted by hand: reads show the defaults and still write nothing.
    with tenant_scope(tenant):
        SignalRule.objects.filter(kind=SignalKind.BURST).delete()


def test_reading_the_rules_over_the_api_writes_nothing(tenant, manager_api, without_burst_rule):
    manager_api.get(RULES)  # the login's session write happens here, not below
    with CaptureQueriesContext(connection) as queries:
        listed = manager_api.get(RULES)
        one = manager_api.get(f"{RULES}burst/")
    assert (listed.status_code, one.status_code) == (200, 200)
    assert _writes(queries) == []
    assert [r["kind"] for r in listed.json()] == sorted(SignalKind.values)
    assert one.json()["threshold"] == 3 and one.json()["updated_at"] is None
    assert SignalKind.BURST not in _rules(tenant)
    # A write stores the missing rule, then changes it.
    assert manager_api.patch(f"{RULES}burst/", {"threshold": 5}, format="json").status_code == 200
    assert _rules(tenant)[SignalKind.BURST].threshold == 5


def test_reading_the_rules_page_writes_nothing(tenant, manager_client, without_burst_rule):
    url = reverse("deal-signal-rules")
    manager_client.get(url)
    with CaptureQueriesContext(connection) as queries:
        page = manager_client.get(url)
    assert page.status_code == 200
    assert _writes(queries) == []
    assert "Burst of views" in page.content.decode()
    assert SignalKind.BURST not in _rules(tenant)


def test_another_tenants_rules_are_not_read(tenant, other_tenant, manager_api):
    with tenant_scope(other_tenant):
        SignalRule.objects.filter(kind=SignalKind.BURST).update(threshold=9)
    rules = {r["kind"]: r for r in manager_api.get(RULES).json()}
    assert rules["burst"]["threshold"] == 3
