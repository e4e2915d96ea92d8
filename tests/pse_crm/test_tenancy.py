import pytest
from django.db import IntegrityError

from pse_crm.models import Membership
from pse_crm.tenancy import (
    ScopeError,
    TenantScopeError,
    all_tenants,
    current_tenant,
    tenant_scope,
)
from tests.factories import MembershipFactory


@pytest.mark.django_db
def test_scoped_manager_raises_with_no_tenant(tenant):
    MembershipFactory(tenant=tenant)
    with pytest.raises(ScopeError):
        list(Membership.objects.all())
    with pytest.raises(ScopeError):
        Membership.objects.count()


@pytest.mark.django_db
def test_scoped_manager_never_returns_another_tenants_rows(tenant, other_tenant):
    mine = MembershipFactory(tenant=tenant)
    theirs = MembershipFactory(tenant=other_tenant)
    with tenant_scope(tenant):
        assert list(Membership.objects.all()) == [mine]
        assert not Membership.objects.filter(pk=theirs.pk).exists()
        with pytest.raises(Membership.DoesNotExist):
            Membership.objects.get(pk=theirs.pk)
    with tenant_scope(other_tenant):
        assert list(Membership.objects.all()) == [theirs]


@pytest.mark.django_db
def test_tenant_scope_refuses_none_and_unsaved():
    from pse_crm.models import Tenant

    with pytest.raises(TenantScopeError), tenant_scope(None):
        pass
    with pytest.raises(TenantScopeError), tenant_scope(Tenant(slug="x", name="x")):
        pass


@pytest.mark.django_db
def test_new_row_takes_tenant_in_scope_and_none_without(tenant):
    user = MembershipFactory(tenant=tenant).user
    other_user = MembershipFactory(tenant=tenant).user
    with tenant_scope(tenant):
        assert current_tenant() == tenant
        Membership.objects.filter(user=other_user).delete()
        m = Membership(user=other_user, role="viewer")
        m.save()
        assert m.tenant == tenant
    with pytest.raises(TenantScopeError):
        current_tenant()
    with pytest.raises(TenantScopeError):
        Membership(user=user, role="viewer").save()


@pytest.mark.django_db
def test_all_tenants_is_the_only_way_to_see_every_tenant(tenant, other_tenant):
    MembershipFactory(tenant=tenant)
    MembershipFactory(tenant=other_tenant)
    with all_tenants():
        assert Membership.objects.count() == 2
    with tenant_scope(tenant), all_tenants():
        assert Membership.objects.count() == 2
        with pytest.raises(TenantScopeError):
            current_tenant()


@pytest.mark.django_db
def test_membership_unique_per_tenant_and_user(tenant, other_tenant):
    m = MembershipFactory(tenant=tenant)
    MembershipFactory(tenant=other_tenant, user=m.user)  # same user in two tenants: fine
    with pytest.raises(IntegrityError):
        MembershipFactory(tenant=tenant, user=m.user)
