"""Enablement models, one module per part of the method."""

from enablement.models.segmentation import *  # noqa: F403
from enablement.models.signals import *  # noqa: F403
from enablement.models.workflows import *  # noqa: F403
