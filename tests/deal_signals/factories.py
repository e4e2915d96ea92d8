"""Factories of deal signals."""

import datetime as dt

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from deal_signals.models import DealSignal, SignalKind
from pse_crm.tenancy import tenant_scope
from tests.activities.factories import MaterialFactory, MaterialViewFactory
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


def signal_with_view(tenant, *, material_title: str, rep=None, **kwargs) -> DealSignal:
    """A signal of ``tenant`` (a new rep unless given) raised by one view of a material."""
    rep = rep or RepFactory(partner__tenant=tenant)
    signal = DealSignalFactory(rep=rep, **kwargs)
    view = MaterialViewFactory(
        rep=rep, material=MaterialFactory(tenant=tenant, title=material_title)
    )
    with tenant_scope(tenant):
        signal.views.through.objects.create(
            tenant=tenant, signal=signal, view=view, kind=signal.kind
        )
    return signal
