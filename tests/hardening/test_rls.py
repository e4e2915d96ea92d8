"""The second wall: PostgreSQL row-level security holds even where the ORM's wall is skipped.

Each test creates rows in two tenants as the suite's superuser, then acts as the
application's role (no ownership, no BYPASSRLS) and shows what it can and cannot reach.
"""

from __future__ import annotations

import pytest
from celery import shared_task
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from activities.models import Deal, MaterialView
from partners.models import Partner
from pse_crm import rls
from pse_crm.models import Membership
from pse_crm.roles import Role
from pse_crm.tasks import TenantTask
from pse_crm.tenancy import all_tenants, tenant_scope
from tests.activities.factories import DealFactory, MaterialViewFactory
from tests.factories import MembershipFactory
from tests.hardening.conftest import _require_postgresql, acting_as_app_role
from tests.partners.factories import PartnerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_tenants(tenant, other_tenant):
    _require_postgresql()
    for t, prefix in ((tenant, "A"), (other_tenant, "B")):
        for i in range(2):
            partner = PartnerFactory(tenant=t, name=f"{prefix}-partner-{i}")
            deal = DealFactory(tenant=t, rep__partner=partner, partner=partner)
            MaterialViewFactory(tenant=t, rep=deal.rep, material__tenant=t)
        MembershipFactory(tenant=t, role=Role.MANAGER)
    return tenant, other_tenant


def _raw(sql: str, params=None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchall()


def test_every_tenant_owned_table_has_forced_rls_and_the_policy():
    _require_postgresql()
    tables = dict(rls.tenant_owned_tables())
    # The wall covers the models of every app, including ones added after this test.
    assert {"partners_partner", "reps_rep", "activities_deal", "pse_crm_membership"} <= set(tables)
    rows = _raw(
        "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,"
        " array_agg(p.polname) FILTER (WHERE p.polname IS NOT NULL)"
        " FROM pg_class c LEFT JOIN pg_policy p ON p.polrelid = c.oid"
        " WHERE c.relname = ANY(%s) AND c.relkind = 'r'"
        " GROUP BY 1, 2, 3",
        [list(tables)],
    )
    found = {name: (enabled, forced, set(pols or [])) for name, enabled, forced, pols in rows}
    assert set(found) == set(tables)
    for table, (enabled, forced, pols) in found.items():
        assert enabled and forced, f"{table}: row-level security not enabled and forced"
        assert rls.POLICY in pols, f"{table}: no tenant policy"
    assert rls.MEMBER_POLICY in found["pse_crm_membership"][2]


def test_apply_policies_is_idempotent():
    _require_postgresql()
    assert rls.apply_policies() == []


def test_raw_sql_in_tenant_scope_sees_only_that_tenant(two_tenants):
    a, _b = two_tenants
    with acting_as_app_role(), tenant_scope(a):
        names = sorted(n for (n,) in _raw("SELECT name FROM partners_partner"))
        tenants = {t for (t,) in _raw("SELECT DISTINCT tenant_id FROM activities_materialview")}
        deal_tenants = {t for (t,) in _raw("SELECT tenant_id FROM activities_deal")}
    assert names == ["A-partner-0", "A-partner-1"]
    assert tenants == {a.pk}
    assert deal_tenants == {a.pk}


def test_no_scope_sees_no_row_of_any_tenant_owned_table(two_tenants):
    qn = connection.ops.quote_name
    with acting_as_app_role():
        counts = {
            table: _raw(f"SELECT count(*) FROM {qn(table)}")[0][0]
            for table, _ in rls.tenant_owned_tables()
        }
    assert set(counts.values()) == {0}, counts
    # The rows are there: the superuser sees them.
    assert _raw("SELECT count(*) FROM partners_partner")[0][0] == 4


def test_unscoped_orm_query_reaches_no_other_tenants_rows(two_tenants):
    a, b = two_tenants
    with acting_as_app_role():
        # _base_manager skips the scoped manager's filter: only the database stops it.
        with tenant_scope(a):
            visible = set(Partner._base_manager.values_list("tenant_id", flat=True))
            other_deals = Deal._base_manager.filter(tenant=b).count()
            joined = MaterialView._base_manager.filter(rep__partner__tenant=b).count()
        unscoped = Partner._base_manager.count()
    assert visible == {a.pk}
    assert other_deals == 0
    assert joined == 0
    assert unscoped == 0


def test_writes_into_another_tenant_are_refused(two_tenants):
    a, b = two_tenants
    with acting_as_app_role(), tenant_scope(a):
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE partners_partner SET name = 'taken' WHERE tenant_id = %s", [b.pk]
            )
            assert cursor.rowcount == 0
            cursor.execute("DELETE FROM activities_deal WHERE tenant_id = %s", [b.pk])
            assert cursor.rowcount == 0
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            Partner._base_manager.create(tenant=b, name="planted")
        # Moving an own row into the other tenant is refused too.
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            Partner._base_manager.filter(tenant=a).update(tenant=b)
    with all_tenants():
        assert not Partner.objects.filter(name__in=["taken", "planted"]).exists()
        assert Deal.objects.filter(tenant=b).count() == 2


def test_all_tenants_lifts_the_wall_for_maintenance(two_tenants):
    a, b = two_tenants
    with acting_as_app_role(), all_tenants():
        tenants = {t for (t,) in _raw("SELECT DISTINCT tenant_id FROM partners_partner")}
    assert tenants == {a.pk, b.pk}


def test_scope_changes_within_one_transaction_are_followed(two_tenants):
    a, b = two_tenants
    seen = []
    with acting_as_app_role():
        for t in (a, b, a):
            with tenant_scope(t):
                seen.append({x for (x,) in _raw("SELECT tenant_id FROM partners_partner")})
        seen.append({x for (x,) in _raw("SELECT tenant_id FROM partners_partner")})
    assert seen == [{a.pk}, {b.pk}, {a.pk}, set()]


def test_a_rolled_back_savepoint_does_not_leave_a_stale_scope(two_tenants):
    a, b = two_tenants
    with acting_as_app_role():
        with tenant_scope(a):
            _raw("SELECT 1")
        try:
            with transaction.atomic(), tenant_scope(b):
                _raw("SELECT 1")
                raise RuntimeError("roll back")
        except RuntimeError:
            pass
        # The savepoint's SET LOCAL (tenant B) is gone; the cache must not think so.
        with tenant_scope(b):
            assert {x for (x,) in _raw("SELECT tenant_id FROM partners_partner")} == {b.pk}


@shared_task(base=TenantTask, name="tests.hardening.partner_names_raw")
def partner_names_raw(tenant_id: int) -> list[str]:
    return sorted(n for (n,) in _raw("SELECT name FROM partners_partner"))


def test_celery_task_runs_behind_the_same_wall(two_tenants):
    _a, b = two_tenants
    with acting_as_app_role():
        names = partner_names_raw.apply(args=[b.pk]).get()
    assert names == ["B-partner-0", "B-partner-1"]


def test_management_command_runs_behind_the_same_wall(two_tenants):
    a, _ = two_tenants
    with acting_as_app_role():
        call_command("create_user", tenant=a.slug, email="new.staff@acme.example", role="staff")
        with tenant_scope(a):
            created = Membership._base_manager.filter(user__email="new.staff@acme.example")
            assert [m.role for m in created] == ["staff"]


def test_requests_work_as_the_app_role(two_tenants, client):
    """The request path (membership lookup before the tenant is known, then the tenant's
    scope) works when the database enforces the policies."""
    a, b = two_tenants
    member = Membership._base_manager.filter(tenant=a).select_related("user").first().user
    MembershipFactory(tenant=b, user=member, role=Role.VIEWER)
    client.force_login(member)
    with acting_as_app_role():
        page = client.get("/")
        switched = client.post(reverse("switch-tenant"), {"tenant": b.pk})
        after = client.get("/")
    assert page.status_code == 200
    assert page.wsgi_request.tenant == a
    # The other tenant of the same user is offered by the switcher (read through the policy).
    assert [m.tenant_id for m in page.context["other_memberships"]] == [b.pk]
    assert switched.status_code == 302
    assert after.status_code == 200
    assert after.wsgi_request.tenant == b


def test_grant_app_role_creates_a_role_that_cannot_bypass(db):
    _require_postgresql()
    call_command("grant_app_role", role="pse_app_probe", create=True)
    row = _raw(
        "SELECT rolsuper, rolbypassrls, has_table_privilege('pse_app_probe', 'partners_partner',"
        " 'SELECT, INSERT, UPDATE, DELETE') FROM pg_roles WHERE rolname = 'pse_app_probe'"
    )
    assert row == [(False, False, True)]
    with pytest.raises(CommandError, match="superuser"):
        call_command("grant_app_role", role="postgres")
