"""Factories of support tasks."""

import datetime as dt

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from support import models as support_models
from tests.factories import UserFactory
from tests.reps.factories import RepFactory


class SupportTaskFactory(DjangoModelFactory):
    """A task written directly (no membership check): use the service to test rules."""

    class Meta:
        model = support_models.SupportTask

    rep = factory.SubFactory(RepFactory)
    tenant = factory.SelfAttribute("rep.tenant")
    kind = support_models.SupportTask.Kind.ACCOMPANY
    assignee = factory.SubFactory(UserFactory)
    due_on = factory.LazyFunction(lambda: timezone.localdate() + dt.timedelta(days=7))
