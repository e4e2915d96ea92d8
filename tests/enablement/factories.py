import datetime as dt

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from enablement.models import (
    DealSignal,
    Quadrant,
    RepSegment,
    SegmentationRun,
    SignalKind,
    workflows,
)
from tests.factories import TenantFactory, UserFactory
from tests.partners.factories import PartnerFactory
from tests.reps.factories import RepFactory

# --- deal signals -------------------------------------------------------------------------


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


# --- segmentation -------------------------------------------------------------------------


class SegmentationRunFactory(DjangoModelFactory):
    """A finished, current run; create ``RepSegmentFactory`` rows against it."""

    class Meta:
        model = SegmentationRun

    tenant = factory.SubFactory(TenantFactory)
    as_of = factory.LazyFunction(timezone.now)
    as_of_date = factory.LazyAttribute(lambda o: o.as_of.date())
    status = SegmentationRun.Status.SUCCEEDED
    is_current = True


class RepSegmentFactory(DjangoModelFactory):
    class Meta:
        model = RepSegment

    rep = factory.SubFactory(RepFactory)
    tenant = factory.SelfAttribute("rep.tenant")
    partner = factory.SelfAttribute("rep.partner")
    run = factory.SubFactory(SegmentationRunFactory, tenant=factory.SelfAttribute("..tenant"))
    views = 10
    distinct_materials = 3
    is_active = True
    quadrant = Quadrant.MOTIVATED


# --- hearings, know-how, support tasks ----------------------------------------------------


class HearingFactory(DjangoModelFactory):
    class Meta:
        model = workflows.Hearing

    rep = factory.SubFactory(RepFactory)
    tenant = factory.SelfAttribute("rep.tenant")
    held_on = factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=3))
    sales_approach = "Starts from the customer's renewal date."
    tags = factory.LazyFunction(lambda: ["renewal"])


class KnowHowFactory(DjangoModelFactory):
    class Meta:
        model = workflows.KnowHow

    tenant = factory.SubFactory(TenantFactory)
    title = factory.Sequence(lambda n: f"Know-how {n}")
    body = "Open with the renewal calendar."


class KnowHowShareFactory(DjangoModelFactory):
    """A share with a partner; pass ``rep`` (and its ``partner``) for a share with a rep."""

    class Meta:
        model = workflows.KnowHowShare

    partner = factory.SubFactory(PartnerFactory)
    tenant = factory.SelfAttribute("partner.tenant")
    rep = None
    know_how = factory.SubFactory(KnowHowFactory, tenant=factory.SelfAttribute("..tenant"))
    shared_on = factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=1))


class SupportTaskFactory(DjangoModelFactory):
    """A task written directly (no membership check): use the service to test rules."""

    class Meta:
        model = workflows.SupportTask

    rep = factory.SubFactory(RepFactory)
    tenant = factory.SelfAttribute("rep.tenant")
    kind = workflows.SupportTask.Kind.ACCOMPANY
    assignee = factory.SubFactory(UserFactory)
    due_on = factory.LazyFunction(lambda: timezone.localdate() + dt.timedelta(days=7))
