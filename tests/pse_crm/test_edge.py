"""The edge check (pse_crm/edge.py): what PostgreSQL cannot store is refused at the door.

A query string, a form body or the session cookie holding a NUL byte, bytes that are not
UTF-8 text, or a lone surrogate answers 400 (a plain page, or the API's JSON error) before
any view runs; a value the database still refuses on a page is a 400 page too.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.urls import reverse

from knowhow import views as knowhow_views
from tests.knowhow.factories import HearingFactory
from tests.partners.factories import PartnerFactory

pytestmark = pytest.mark.django_db


def plain_400(response) -> str:
    assert response.status_code == 400, response.status_code
    assert response["Content-Type"].startswith("text/html")
    return response.content.decode()


@pytest.mark.parametrize("value", ["%00", "a%00b", "%ED%A0%80", "%FF", "%C0%80"])
@pytest.mark.parametrize(("page", "param"), [("partner-list", "q"), ("hearing-list", "tag")])
def test_a_page_filter_that_cannot_be_stored_is_a_400_page(
    manager_client, tenant, page, param, value
):
    PartnerFactory(tenant=tenant, name="Sample KK")
    text = plain_400(manager_client.get(f"{reverse(page)}?{param}={value}"))
    assert "Sample KK" not in text
    assert "Bad request" in text
    # Text in any script still filters.
    assert manager_client.get(reverse(page), {param: "サンプル Sample"}).status_code == 200


@pytest.mark.parametrize("query", ["tag=%00", "tag=%ED%A0%80", "x%00=1"])
def test_an_api_filter_that_cannot_be_stored_is_the_json_error(staff_client, tenant, query):
    HearingFactory(tenant=tenant)
    response = staff_client.get(f"/api/v1/hearings/?{query}")
    assert response.status_code == 400
    assert set(response.json()) == {"detail"} and response.json()["detail"]


def test_a_form_body_with_nul_is_refused_before_the_login_runs(client, db):
    response = client.post(reverse("login"), {"username": "a\x00@example.com", "password": "x"})
    plain_400(response)


def test_a_form_body_that_is_not_utf8_is_refused(manager_client):
    response = manager_client.post(
        reverse("partner-list"),
        data=b"q=%ED%A0%80",
        content_type="application/x-www-form-urlencoded",
    )
    plain_400(response)


def test_a_session_cookie_with_nul_is_refused_before_the_session_is_looked_up(client, db):
    client.cookies[settings.SESSION_COOKIE_NAME] = "abcdefgh\x00ijkl"
    plain_400(client.get(reverse("partner-list")))


def test_a_data_error_on_a_page_is_a_400_page_and_other_errors_still_raise(
    owner_client, monkeypatch
):
    # A real one: PostgreSQL refuses the NUL of the path in its lookup.
    response = owner_client.post("/settings/api-keys/ab%00cd/revoke/")
    plain_400(response)

    def crash(**kwargs):
        raise RuntimeError("a bug, not bad input")

    monkeypatch.setattr(knowhow_views, "hearing_list_select", crash)
    with pytest.raises(RuntimeError, match="a bug"):
        owner_client.get(reverse("hearing-list"))
