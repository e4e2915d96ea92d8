"""API clients logged in (session) as the tenant's manager, staff and viewer."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient


def _api_as(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def manager_api(manager):
    return _api_as(manager)


@pytest.fixture
def staff_api(staff):
    return _api_as(staff)


@pytest.fixture
def viewer_api(viewer):
    return _api_as(viewer)
