"""Fixtures of the segmentation tests."""

from __future__ import annotations

import pytest

from tests.segmentation.handbuilt import build_handbuilt_data


@pytest.fixture
def data(in_tenant, other_tenant):
    """The hand-built data set (``tests/segmentation/handbuilt.py``), in ``in_tenant``."""
    return build_handbuilt_data(in_tenant, other_tenant)
