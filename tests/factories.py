"""Core factories. App factories live in tests/<app>/factories.py and take the tenant
from their parent (a rep's tenant is its partner's tenant)."""

import factory
from factory.django import DjangoModelFactory

from pse_crm.models import Membership, Tenant, TenantAPIKey, User
from pse_crm.roles import Role


class TenantFactory(DjangoModelFactory):
    class Meta:
        model = Tenant
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Vendor {n}")
    slug = factory.Sequence(lambda n: f"vendor-{n}")
    timezone = "Asia/Tokyo"


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    password = factory.django.Password("pw-for-tests")


class MembershipFactory(DjangoModelFactory):
    class Meta:
        model = Membership

    tenant = factory.SubFactory(TenantFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.STAFF


def make_api_key(tenant: Tenant, name: str = "integration") -> tuple[TenantAPIKey, str]:
    return TenantAPIKey.objects.create_key(tenant=tenant, name=name)
