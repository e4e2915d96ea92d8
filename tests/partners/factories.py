import factory
from factory.django import DjangoModelFactory

from partners.models import Partner, PartnerDomain
from tests.factories import TenantFactory


class PartnerFactory(DjangoModelFactory):
    class Meta:
        model = Partner

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"Partner {n}")
    partner_type = Partner.Type.RESELLER


class PartnerDomainFactory(DjangoModelFactory):
    class Meta:
        model = PartnerDomain

    partner = factory.SubFactory(PartnerFactory)
    tenant = factory.SelfAttribute("partner.tenant")
    domain = factory.Sequence(lambda n: f"partner{n}.example.jp")
