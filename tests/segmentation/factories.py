"""Factories of the segmentation's models."""

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from segmentation.models import Quadrant, RepSegment, SegmentationRun
from tests.factories import TenantFactory
from tests.reps.factories import RepFactory


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
