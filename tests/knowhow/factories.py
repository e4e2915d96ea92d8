"""Factories of hearings and know-how."""

import datetime as dt

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from knowhow import models as knowhow_models
from tests.factories import TenantFactory
from tests.partners.factories import PartnerFactory
from tests.reps.factories import RepFactory


class HearingFactory(DjangoModelFactory):
    class Meta:
        model = knowhow_models.Hearing

    rep = factory.SubFactory(RepFactory)
    tenant = factory.SelfAttribute("rep.tenant")
    held_on = factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=3))
    sales_approach = "Starts from the customer's renewal date."
    tags = factory.LazyFunction(lambda: ["renewal"])


class KnowHowFactory(DjangoModelFactory):
    class Meta:
        model = knowhow_models.KnowHow

    tenant = factory.SubFactory(TenantFactory)
    title = factory.Sequence(lambda n: f"Know-how {n}")
    body = "Open with the renewal calendar."


class KnowHowShareFactory(DjangoModelFactory):
    """A share with a partner; pass ``rep`` (and its ``partner``) for a share with a rep."""

    class Meta:
        model = knowhow_models.KnowHowShare

    partner = factory.SubFactory(PartnerFactory)
    tenant = factory.SelfAttribute("partner.tenant")
    rep = None
    know_how = factory.SubFactory(KnowHowFactory, tenant=factory.SelfAttribute("..tenant"))
    shared_on = factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=1))
