"""Every API route answers with or without its trailing slash, and never redirects.

A client follows a 301 as a GET: a ``POST /api/v1/deals/sync`` that was redirected came
back 200 with the watermark and wrote nothing. Every route of the URLconf under /api/ is
called both ways, GET and POST, as an owner (who holds every capability).
"""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from activities.models import Deal
from pse_crm.tenancy import tenant_scope
from tests.partners.factories import PartnerFactory

pytestmark = pytest.mark.django_db

REDIRECTS = {301, 302, 303, 307, 308}


def _api_routes() -> list[tuple[str, str]]:
    """(name, regex) of every named route under /api/, path parameters as regex groups."""
    found = []

    def walk(patterns, prefix: str):
        for entry in patterns:
            regex = prefix + entry.pattern.regex.pattern.lstrip("^")
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, regex.rstrip("$"))
            elif isinstance(entry, URLPattern) and entry.name and regex.startswith("api/"):
                found.append((entry.name, regex))

    walk(get_resolver().url_patterns, "")
    return sorted(set(found))


ROUTES = _api_routes()


def _url(regex: str, values: dict[str, str]) -> str:
    """The route's URL with its slash, parameters filled (``kind`` a rule kind, else an id)."""
    text = regex.rstrip("$").removesuffix("/?")
    text = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: values.get(m.group(1), values["default"]), text)
    text = text.replace("\\", "")
    return "/" + (text if text.endswith("/") else text + "/")


@pytest.fixture
def owner_api(owner):
    client = APIClient()
    client.force_login(owner)
    return client


def test_the_routes_are_found():
    names = {name for name, _ in ROUTES}
    assert {"api-partner-list", "api-deal-sync", "api-segmentation-settings", "api-schema"} <= names
    assert len(ROUTES) >= 40


@pytest.mark.parametrize("name,regex", ROUTES, ids=[name for name, _ in ROUTES])
@pytest.mark.parametrize("method", ["get", "post"])
def test_every_route_answers_without_its_slash_as_with_it(owner_api, tenant, name, regex, method):
    partner = PartnerFactory(tenant=tenant)
    url = _url(regex, {"default": str(partner.pk), "kind": "new_deal_viewed"})
    with_slash = getattr(owner_api, method)(url, {}, format="json")
    without = getattr(owner_api, method)(url.rstrip("/"), {}, format="json")
    assert with_slash.status_code not in REDIRECTS, (url, with_slash.status_code)
    assert without.status_code not in REDIRECTS, (url, without.status_code)
    # The same view answered: the same status (an empty body is refused alike, say).
    assert without.status_code == with_slash.status_code, (url, without.status_code)
    if with_slash.status_code != 404 and name != "api-docs":
        assert without.get("Content-Type") == with_slash.get("Content-Type")


def test_a_sync_post_without_the_slash_writes_the_deals(api_client, tenant):
    body = [
        {
            "sf_id": "006000000000001AAA",
            "name": "No slash",
            "system_modstamp": "2026-03-31T09:00:00Z",
        }
    ]
    response = api_client.post("/api/v1/deals/sync", body, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["created"] == 1
    with tenant_scope(tenant):
        assert list(Deal.objects.values_list("name", flat=True)) == ["No slash"]


def test_a_detail_write_without_the_slash_is_applied(api_client, tenant):
    partner = PartnerFactory(tenant=tenant, name="Before")
    response = api_client.patch(f"/api/v1/partners/{partner.pk}", {"name": "After"}, format="json")
    assert response.status_code == 200, response.content
    partner.refresh_from_db()
    assert partner.name == "After"


def test_urls_are_reversed_and_documented_with_the_slash(client):
    from django.urls import reverse

    assert reverse("api-deal-sync") == "/api/v1/deals/sync/"
    paths = client.get("/api/schema/?format=json").json()["paths"]
    assert "/api/v1/deals/sync/" in paths
    assert all(path.endswith("/") for path in paths), [p for p in paths if not p.endswith("/")]
