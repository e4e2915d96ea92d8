import datetime as dt

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from activities.models import Deal, Material, MaterialView, SyncSettings
from tests.factories import TenantFactory
from tests.reps.factories import RepFactory


class MaterialFactory(DjangoModelFactory):
    class Meta:
        model = Material

    tenant = factory.SubFactory(TenantFactory)
    title = factory.Sequence(lambda n: f"Material {n}")
    kind = Material.Kind.DECK
    external_id = factory.Sequence(lambda n: f"mat-{n}")


class MaterialViewFactory(DjangoModelFactory):
    class Meta:
        model = MaterialView

    rep = factory.SubFactory(RepFactory)
    tenant = factory.SelfAttribute("rep.tenant")
    material = factory.SubFactory(MaterialFactory, tenant=factory.SelfAttribute("..tenant"))
    viewed_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=1))
    duration_seconds = 60
    source = "test"
    event_id = factory.Sequence(lambda n: f"evt-{n}")


def _sf_id(n: int) -> str:
    from pse_crm.sfid import to_18

    return to_18(f"006{n:012d}")


class DealFactory(DjangoModelFactory):
    class Meta:
        model = Deal

    rep = factory.SubFactory(RepFactory)
    tenant = factory.SelfAttribute("rep.tenant")
    partner = factory.SelfAttribute("rep.partner")
    sf_id = factory.Sequence(_sf_id)
    name = factory.Sequence(lambda n: f"Deal {n}")
    amount = 1_000_000
    currency = "JPY"
    # As the sync leaves it for a deal in the corporate currency (deal_amounts_convert);
    # a test about other currencies converts through the service.
    amount_corporate = factory.LazyAttribute(
        lambda o: o.amount if o.currency == o.tenant.corporate_currency else None
    )
    stage = "Prospecting"
    system_modstamp = factory.LazyFunction(timezone.now)
    sf_created_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=30))


class SyncSettingsFactory(DjangoModelFactory):
    class Meta:
        model = SyncSettings

    tenant = factory.SubFactory(TenantFactory)
    partner_field = "PartnerAccountId"
    rep_field = "OwnerId"
    rep_match = SyncSettings.RepMatch.SALESFORCE_USER_ID
