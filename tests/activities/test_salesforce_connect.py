"""Connecting a Salesforce org: credentials checked by a real token request to the fake
org, the secret stored only encrypted, https required, the command."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings

from activities.models import SalesforceConnection
from activities.services.salesforce import salesforce_connect, salesforce_disconnect
from activities.services.salesforce_client import (
    SalesforceAuthError,
    SalesforceError,
    instance_url_check,
    secret_decrypt,
)
from pse_crm.tenancy import TenantScopeError, tenant_scope
from tests.activities import fake_salesforce
from tests.activities.fake_salesforce import (
    CLIENT_ID,
    CLIENT_SECRET,
    ORG_ID,
)
from tests.helpers import run_with_settings

# The fake org's fixtures.
org = fake_salesforce.org
sf_url = fake_salesforce.sf_url


def _connect(tenant, url, **kwargs):
    values = {"instance_url": url, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    values.update(kwargs)
    return salesforce_connect(tenant=tenant, **values)


def test_connect_stores_the_org_and_only_an_encrypted_secret(in_tenant, sf_url, org):
    conn = _connect(in_tenant, sf_url + "/")
    assert (conn.org_id, conn.instance_url, conn.api_version) == (ORG_ID, sf_url, "62.0")
    assert org.tokens_issued == 1  # the credentials were tried before anything was stored
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT client_secret_encrypted FROM {SalesforceConnection._meta.db_table} "
            "WHERE tenant_id = %s",
            [in_tenant.pk],
        )
        (raw,) = cursor.fetchone()
        cursor.execute(
            f"SELECT * FROM {SalesforceConnection._meta.db_table} WHERE tenant_id = %s",
            [in_tenant.pk],
        )
        row = " ".join(str(v) for v in cursor.fetchone())
    assert CLIENT_SECRET not in raw and CLIENT_SECRET not in row
    assert raw.startswith("gAAAA")  # a Fernet token
    assert secret_decrypt(raw) == CLIENT_SECRET


def test_wrong_credentials_fail_with_salesforces_words_and_store_nothing(in_tenant, sf_url):
    with pytest.raises(SalesforceAuthError, match="invalid client credentials"):
        _connect(in_tenant, sf_url, client_secret="wrong")
    assert not SalesforceConnection.objects.exists()


def test_an_api_version_the_org_does_not_serve_is_refused_before_storing(in_tenant, sf_url):
    with pytest.raises(SalesforceError, match="NOT_FOUND"):
        _connect(in_tenant, sf_url, api_version="20.0")
    assert not SalesforceConnection.objects.exists()
    with pytest.raises(ValidationError) as caught:
        _connect(in_tenant, sf_url, api_version="latest")
    assert "api_version" in caught.value.message_dict


def test_reconnecting_rotates_the_secret_and_keeps_the_watermark_of_the_same_org(in_tenant, sf_url):
    first = _connect(in_tenant, sf_url)
    SalesforceConnection.objects.filter(pk=first.pk).update(watermark="2026-01-01T00:00:00Z")
    second = _connect(in_tenant, sf_url, api_version="63.0")
    assert second.pk == first.pk and second.api_version == "63.0"
    assert second.client_secret_encrypted != first.client_secret_encrypted  # a new token
    assert second.watermark is not None
    assert SalesforceConnection.objects.count() == 1


def test_removing_the_connection_deletes_the_secret(in_tenant, sf_url):
    _connect(in_tenant, sf_url)
    assert salesforce_disconnect(tenant=in_tenant) is True
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {SalesforceConnection._meta.db_table}")
        assert cursor.fetchone() == (0,)
    assert salesforce_disconnect(tenant=in_tenant) is False


@pytest.mark.parametrize(
    "url",
    [
        "http://example.my.salesforce.com",
        "ftp://127.0.0.1",
        "https://example.my.salesforce.com/services/data",
        "https://user:pw@example.my.salesforce.com",
        "example.my.salesforce.com",
        "http://10.0.0.1:8080",
    ],
)
def test_an_instance_url_that_is_not_plain_https_is_refused(in_tenant, url):
    with pytest.raises(ValidationError) as caught:
        _connect(in_tenant, url)
    assert "instance_url" in caught.value.message_dict
    assert not SalesforceConnection.objects.exists()


def test_loopback_http_is_allowed_only_outside_production():
    assert instance_url_check("http://127.0.0.1:8999") == "http://127.0.0.1:8999"
    assert instance_url_check("http://localhost:8999/") == "http://localhost:8999"
    assert instance_url_check("https://Example.My.Salesforce.com") == (
        "https://example.my.salesforce.com"
    )
    with (
        override_settings(SALESFORCE_ALLOW_LOOPBACK_HTTP=False),
        pytest.raises(ValidationError, match="https"),
    ):
        instance_url_check("http://127.0.0.1:8999")


def test_production_settings_refuse_loopback_http_and_need_the_encryption_key():
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SALESFORCE_ALLOW_LOOPBACK_HTTP)"
    )
    result = run_with_settings("pse_crm.settings.production", "DEBUG", None, code)
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_production_refuses_to_start_without_field_encryption_key():
    import os
    import subprocess
    import sys

    from tests.helpers import ROOT

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "pse_crm.settings.production",
        "SECRET_KEY": "k" * 50,
        "ALLOWED_HOSTS": "crm.example.com",
    }
    env.pop("FIELD_ENCRYPTION_KEY", None)
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0 and "FIELD_ENCRYPTION_KEY" in result.stderr


def test_a_bad_encryption_key_fails_the_system_check():
    from pse_crm.checks import field_encryption_key_check

    assert field_encryption_key_check() == []
    with override_settings(FIELD_ENCRYPTION_KEY="not-a-key"):
        (error,) = field_encryption_key_check()
    assert error.id == "pse_crm.E002"


def test_a_secret_survives_key_rotation_but_not_a_lost_key(in_tenant, sf_url):
    from django.conf import settings

    conn = _connect(in_tenant, sf_url)
    new_key = "Zp3nS0pZ8d3Jr4qk1o8b7JqvQ2m0mJbq0Qm8r6c4lUo="
    with override_settings(FIELD_ENCRYPTION_KEY=f"{new_key},{settings.FIELD_ENCRYPTION_KEY}"):
        assert secret_decrypt(conn.client_secret_encrypted) == CLIENT_SECRET
    with (
        override_settings(FIELD_ENCRYPTION_KEY=new_key),
        pytest.raises(SalesforceAuthError, match="Enter the client secret again"),
    ):
        secret_decrypt(conn.client_secret_encrypted)


def test_connect_refuses_another_tenant_than_the_scopes(tenant, other_tenant, sf_url):
    with tenant_scope(tenant), pytest.raises(TenantScopeError):
        _connect(other_tenant, sf_url)


def _connect_command(tenant, url, secret):
    call_command(
        "salesforce_connect",
        "--tenant",
        tenant.slug,
        "--instance-url",
        url,
        "--client-id",
        CLIENT_ID,
        "--client-secret",
        secret,
    )


def test_the_connect_command(tenant, sf_url, capsys, monkeypatch):
    _connect_command(tenant, sf_url, CLIENT_SECRET)
    assert f"connected to Salesforce org {ORG_ID}" in capsys.readouterr().out
    with tenant_scope(tenant):
        assert SalesforceConnection.objects.count() == 1

    with pytest.raises(CommandError, match="invalid client credentials"):
        _connect_command(tenant, sf_url, "wrong")
    with pytest.raises(CommandError, match="https"):
        _connect_command(tenant, "http://example.my.salesforce.com", CLIENT_SECRET)
    call_command("salesforce_connect", "--tenant", tenant.slug, "--remove")
    with tenant_scope(tenant):
        assert not SalesforceConnection.objects.exists()

    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(CLIENT_SECRET + "\n"))
    _connect_command(tenant, sf_url, "-")
    with tenant_scope(tenant):
        assert SalesforceConnection.objects.count() == 1
