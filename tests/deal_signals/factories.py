"""Factories of deal signals."""

import datetime as dt

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from deal_signals.models import DealSignal, SignalKind
from tests.reps.factories import RepFactory


class DealSignalFactory(DjangoModelFactory):
    class Meta:
        model = DealSignal

    rep = factory.SubFactory(RepFactory)
    tenant = factory.SelfAttribute("rep.tenant")
    partner = factory.SelfAttribute("rep.partner")
    kind = SignalKind.BURST
    view_count = 3
    first_viewed_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(hours=5))
    last_viewed_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(hours=1))
    expires_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=14))
