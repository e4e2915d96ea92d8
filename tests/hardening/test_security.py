"""Security: login lockout, security headers, the content security policy, cookies, HSTS."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from tests.factories import MembershipFactory, UserFactory

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "pw-for-tests"

pytestmark = pytest.mark.django_db


def _login(client, email, password, ip="10.0.0.1"):
    return client.post(reverse("login"), {"username": email, "password": password}, REMOTE_ADDR=ip)


@pytest.fixture
def member(tenant):
    return MembershipFactory(tenant=tenant, user=UserFactory(email="rep.owner@acme.example")).user


# --- login lockout --------------------------------------------------------------------


def test_repeated_failures_lock_the_account_even_with_the_right_password(client, member):
    for _ in range(4):
        assert _login(client, member.email, "wrong").status_code == 200
    # The fifth failure locks the account.
    assert _login(client, member.email, "wrong").status_code == 429
    locked = _login(client, member.email, PASSWORD)
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    # Another spelling of the same email is the same account.
    assert _login(client, member.email.upper(), PASSWORD).status_code == 429


def test_lockout_ends_after_the_cool_off(client, member):
    for _ in range(5):
        _login(client, member.email, "wrong")
    assert _login(client, member.email, PASSWORD).status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - dt.timedelta(minutes=16))
    assert _login(client, member.email, PASSWORD).status_code == 302
    assert int(client.session["_auth_user_id"]) == member.pk


def test_a_locked_account_is_not_locked_for_another_address(client, member):
    for _ in range(5):
        _login(client, member.email, "wrong", ip="10.0.0.9")
    assert _login(client, member.email, PASSWORD, ip="10.0.0.9").status_code == 429
    assert _login(client, member.email, PASSWORD, ip="10.0.0.10").status_code == 302


def test_a_successful_login_resets_the_count(client, member):
    for _ in range(4):
        _login(client, member.email, "wrong")
    assert _login(client, member.email, PASSWORD).status_code == 302
    client.logout()
    for _ in range(4):
        _login(client, member.email, "wrong")
    assert _login(client, member.email, PASSWORD).status_code == 302


# --- headers and the content security policy -----------------------------------------


def _csp(response) -> dict[str, str]:
    header = response.headers["Content-Security-Policy"]
    return {
        part.strip().split(" ", 1)[0]: part.strip().partition(" ")[2]
        for part in header.split(";")
        if part.strip()
    }


def test_pages_carry_security_headers_and_a_strict_csp(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
    csp = _csp(response)
    assert csp["script-src"] == "'self'"
    assert csp["object-src"] == "'none'"
    assert csp["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert "unsafe-eval" not in response.headers["Content-Security-Policy"]


# An inline script, except a JSON data block (json_script): data is never executed.
INLINE_SCRIPT = re.compile(
    r"<script\b(?![^>]*\b(?:src=|type=[\"']application/(?:ld\+)?json))[^>]*>\s*\S",
    re.IGNORECASE,
)
EVENT_HANDLER = re.compile(r"<[a-z][^>]*\s(on[a-z]+)\s*=", re.IGNORECASE)
JS_URL = re.compile(r"""(href|src|action)\s*=\s*["']\s*javascript:""", re.IGNORECASE)
EXTERNAL = re.compile(r"""<(?:script|link)\b[^>]*(?:src|href)\s*=\s*["'](?:https?:)?//""", re.I)


def _parameterless_pages(resolver=None, prefix=""):
    """Every page route without a path parameter (the API and admin aside)."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            if route.startswith(("api/", "admin/", "i18n/")):
                continue
            yield from _parameterless_pages(entry, route)
        elif isinstance(entry, URLPattern) and "<" not in route and "(?P" not in route:
            yield "/" + route.lstrip("^").rstrip("$")


def _assert_passes_csp(url: str, response) -> None:
    html = response.content.decode()
    assert not INLINE_SCRIPT.search(html), f"{url}: inline script (blocked by the CSP)"
    handler = EVENT_HANDLER.search(html)
    assert not handler, f"{url}: inline event handler {handler and handler.group(1)}"
    assert not JS_URL.search(html), f"{url}: javascript: URL"
    assert not EXTERNAL.search(html), f"{url}: script or stylesheet from another origin"


def test_every_page_passes_the_content_security_policy(owner_client):
    checked = []
    for url in sorted(set(_parameterless_pages())):
        response = owner_client.get(url)
        if response.status_code != 200 or "text/html" not in response.headers.get(
            "Content-Type", ""
        ):
            continue
        assert "Content-Security-Policy" in response.headers, url
        _assert_passes_csp(url, response)
        checked.append(url)
    assert "/login/" in checked or "/" in checked
    assert len(checked) >= 2, checked


def test_api_docs_pass_the_content_security_policy(owner_client):
    response = owner_client.get(reverse("api-docs"))
    assert response.status_code == 200
    _assert_passes_csp("/api/docs/", response)
    # Its start-up script is served as a file from our origin.
    script = re.search(r'<script src="([^"]*\?script[^"]*)"', response.content.decode())
    assert script, "the Swagger UI start-up script is not a separate file"
    assert owner_client.get(script.group(1).replace("&amp;", "&")).status_code == 200


def test_admin_login_passes_the_content_security_policy(client):
    response = client.get("/admin/login/")
    assert response.status_code == 200
    _assert_passes_csp("/admin/login/", response)


# --- production settings ----------------------------------------------------------------

PRODUCTION_ENV = {
    "SECRET_KEY": "k" * 20 + "-Zq8!v2#Lr9@Xw4$Tn6%Hy3^Jb7&Md5*",
    "ALLOWED_HOSTS": "crm.example.com",
    "FIELD_ENCRYPTION_KEY": "Zp3nS0pZ8d3Jr4qk1o8b7JqvQ2m0mJbq0Qm8r6c4lUo=",
}


def _production(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **PRODUCTION_ENV, "DJANGO_SETTINGS_MODULE": "pse_crm.settings.production"}
    env.pop("DEBUG", None)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_production_settings_secure_cookies_hsts_and_https():
    result = _production(
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({k: getattr(s, k) for k in ("
        "'DEBUG', 'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', 'SESSION_COOKIE_HTTPONLY', "
        "'LANGUAGE_COOKIE_SECURE', 'SECURE_HSTS_SECONDS', 'SECURE_HSTS_INCLUDE_SUBDOMAINS', "
        "'SECURE_SSL_REDIRECT', 'SECURE_PROXY_SSL_HEADER', 'AXES_FAILURE_LIMIT')}))"
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values["DEBUG"] is False
    assert values["SESSION_COOKIE_SECURE"] and values["CSRF_COOKIE_SECURE"]
    assert values["SESSION_COOKIE_HTTPONLY"] and values["LANGUAGE_COOKIE_SECURE"]
    assert values["SECURE_HSTS_SECONDS"] >= 31_536_000
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert values["AXES_FAILURE_LIMIT"] == 5


def test_https_responses_carry_hsts_and_secure_cookies(client, member, settings):
    settings.SECURE_HSTS_SECONDS = 31_536_000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    response = client.post(
        reverse("login"), {"username": member.email, "password": PASSWORD}, secure=True
    )
    assert response.status_code == 302
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    session_cookie = response.cookies["sessionid"]
    assert session_cookie["secure"] and session_cookie["httponly"]
    assert session_cookie["samesite"] == "Lax"
