"""The login lockout behind reverse proxies (AXES_PROXY_COUNT, django-ipware).

Behind N proxies the client address is the N-th address from the right of
X-Forwarded-For: what the proxies appended, not what the client sent. With the default
outside production (0) the header is not trusted at all: anyone can send one.
"""

from __future__ import annotations

import json

import pytest
from axes.models import AccessAttempt
from django.urls import reverse

from pse_crm.settings.base import client_address_settings
from tests.factories import MembershipFactory, UserFactory
from tests.helpers import run_with_settings

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests"
PROXY = "10.0.0.2"  # REMOTE_ADDR: the reverse proxy
CLIENT_A = "203.0.113.7"
CLIENT_B = "198.51.100.23"


@pytest.fixture
def member(tenant):
    return MembershipFactory(tenant=tenant, user=UserFactory(email="rep.owner@acme.example")).user


@pytest.fixture
def behind_one_proxy(settings):
    count, order = client_address_settings(1)
    settings.AXES_IPWARE_PROXY_COUNT = count
    settings.AXES_IPWARE_META_PRECEDENCE_ORDER = order


def _login(client, email, password, forwarded=None):
    headers = {"REMOTE_ADDR": PROXY}
    if forwarded is not None:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded
    return client.post(reverse("login"), {"username": email, "password": password}, **headers)


def test_forwarded_clients_are_locked_out_separately(client, member, behind_one_proxy):
    for _ in range(5):
        _login(client, member.email, "wrong", forwarded=CLIENT_A)
    assert _login(client, member.email, PASSWORD, forwarded=CLIENT_A).status_code == 429
    # Another client behind the same proxy still logs in.
    assert _login(client, member.email, PASSWORD, forwarded=CLIENT_B).status_code == 302
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == [CLIENT_A]


def test_a_forged_header_does_not_escape_the_lockout(client, member, behind_one_proxy):
    # The client sends its own X-Forwarded-For; the proxy appends the real address to it.
    for i in range(5):
        _login(client, member.email, "wrong", forwarded=f"192.0.2.{i}, {CLIENT_A}")
    locked = _login(client, member.email, PASSWORD, forwarded=f"192.0.2.99, {CLIENT_A}")
    assert locked.status_code == 429
    # The failures counted against A, whatever A forged: A is locked without forging too.
    assert _login(client, member.email, PASSWORD, forwarded=CLIENT_A).status_code == 429
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == [CLIENT_A]
    assert _login(client, member.email, PASSWORD, forwarded=CLIENT_B).status_code == 302


def test_by_default_the_forwarded_header_is_not_trusted(client, member):
    # A new forged address on every attempt: still one client, the one REMOTE_ADDR names.
    for i in range(5):
        _login(client, member.email, "wrong", forwarded=f"203.0.113.{i + 10}")
    assert _login(client, member.email, PASSWORD, forwarded=CLIENT_B).status_code == 429
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == [PROXY]


def _settings_in(module: str, proxies: str | None) -> dict:
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps([s.AXES_IPWARE_PROXY_COUNT, s.AXES_IPWARE_META_PRECEDENCE_ORDER]))"
    )
    result = run_with_settings(module, "AXES_PROXY_COUNT", proxies, code)
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("module", "proxies", "expected"),
    [
        ("pse_crm.settings.local", None, [None, ["REMOTE_ADDR"]]),
        ("pse_crm.settings.test", "2", [1, ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]]),
        ("pse_crm.settings.local", "1", [0, ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]]),
        ("pse_crm.settings.production", None, [0, ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]]),
        ("pse_crm.settings.production", "0", [None, ["REMOTE_ADDR"]]),
    ],
)
def test_axes_proxy_count_applies_in_every_settings_module(module, proxies, expected):
    assert _settings_in(module, proxies) == expected
