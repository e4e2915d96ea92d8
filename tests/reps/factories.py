import factory
from factory.django import DjangoModelFactory

from reps.models import Rep
from tests.partners.factories import PartnerFactory


class RepFactory(DjangoModelFactory):
    class Meta:
        model = Rep

    partner = factory.SubFactory(PartnerFactory)
    tenant = factory.SelfAttribute("partner.tenant")
    name = factory.Sequence(lambda n: f"Rep {n}")
    email = factory.Sequence(lambda n: f"rep{n}@partner.example.jp")
