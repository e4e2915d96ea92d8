"""A thin Salesforce REST client: the OAuth 2.0 client credentials flow, SOQL query pages.

Built on one ``requests.Session``. simple-salesforce is not used here: it builds every
URL as ``https://<host>`` and logs in with client credentials only at
``<domain>.salesforce.com``, while a connection names its own instance URL, and a local
test org on a loopback host speaks plain HTTP (see ``instance_url_check``).

What the client guarantees:

* A ``401 INVALID_SESSION_ID`` fetches a new token and retries the request once; a second
  401 is an error.
* Salesforce's refusals become ``SalesforceError`` subclasses carrying Salesforce's own
  code and message, so a run can stop and say why in plain words.
* ``nextRecordsUrl`` is followed only as a path on the connection's own instance: a page
  never sends the token to another host.
* Every request has a timeout; a dropped connection or a body that is not a query page
  is ``SalesforceMalformedResponse``.

Secrets: ``secret_encrypt`` / ``secret_decrypt`` (Fernet, ``FIELD_ENCRYPTION_KEY``).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from cryptography.fernet import InvalidToken
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from pse_crm.encryption import field_fernet

__all__ = [
    "SalesforceAuthError",
    "SalesforceClient",
    "SalesforceCredentialsRefused",
    "SalesforceError",
    "SalesforceInvalidType",
    "SalesforceLimitExceeded",
    "SalesforceMalformedResponse",
    "SalesforceUnavailable",
    "instance_url_check",
    "secret_decrypt",
    "secret_encrypt",
]

_API_VERSION = re.compile(r"^\d{2,3}\.0$")
_LOOPBACK_NAMES = {"localhost"}
# Salesforce's largest query page (Sforce-Query-Options batchSize).
BATCH_SIZE = 2000


# --- secrets ---------------------------------------------------------------------------


def secret_encrypt(secret: str) -> str:
    """The Fernet token of ``secret`` under the first FIELD_ENCRYPTION_KEY."""
    return field_fernet().encrypt(secret.encode()).decode("ascii")


def secret_decrypt(token: str) -> str:
    """``secret_encrypt``'s inverse under any FIELD_ENCRYPTION_KEY; a token no key opens
    raises ``SalesforceAuthError`` (the key was changed without keeping the old one)."""
    try:
        return field_fernet().decrypt(token.encode("ascii")).decode()
    except (InvalidToken, ValueError):
        raise SalesforceAuthError(
            "decrypt",
            _(
                "The stored client secret cannot be decrypted with FIELD_ENCRYPTION_KEY. "
                "Enter the client secret again."
            ),
        ) from None


# --- errors ----------------------------------------------------------------------------


class SalesforceError(Exception):
    """Salesforce refused or failed. ``code`` is Salesforce's (``REQUEST_LIMIT_EXCEEDED``,
    ``invalid_client``…) or ours; ``str()`` is the message in plain words."""

    def __init__(self, code: str, message: str, *, status: int | None = None):
        self.code = code
        self.message = message
        self.status = status
        super().__init__(message)


class SalesforceAuthError(SalesforceError):
    """The token endpoint refused the credentials (its ``error_description``)."""


class SalesforceCredentialsRefused(SalesforceAuthError):
    """The token endpoint refused the client id or secret (``invalid_client``…)."""


class SalesforceLimitExceeded(SalesforceError):
    """``REQUEST_LIMIT_EXCEEDED``: the org's API allowance for the day is used up."""


class SalesforceUnavailable(SalesforceError):
    """A 5xx, a timeout or no connection: try again later."""


class SalesforceInvalidType(SalesforceError):
    """``INVALID_TYPE``: the object does not exist in this org (e.g. CurrencyType in a
    single-currency org)."""


class SalesforceMalformedResponse(SalesforceError):
    """A response that is not what the API promises (cut short, not JSON, no records)."""


# --- the instance URL ------------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def instance_url_check(url: str) -> str:
    """The instance URL normalised (``scheme://host[:port]``, no path), or ValidationError.

    https only; http only for a loopback host (127.0.0.1, ::1, localhost) and only where
    ``SALESFORCE_ALLOW_LOOPBACK_HTTP`` (never in the production settings).
    """
    raw = (url or "").strip()
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise ValidationError(
            _("Enter the instance URL, e.g. https://example.my.salesforce.com.")
        ) from None
    host = parts.hostname or ""
    if not host or parts.scheme not in ("https", "http") or parts.username or parts.password:
        raise ValidationError(_("Enter the instance URL, e.g. https://example.my.salesforce.com."))
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValidationError(
            _("Enter the instance URL only (https://example.my.salesforce.com), without a path.")
        )
    if parts.scheme == "http" and not (
        _is_loopback(host) and settings.SALESFORCE_ALLOW_LOOPBACK_HTTP
    ):
        raise ValidationError(
            _(
                "The instance URL must use https:// (plain http is allowed only for a local test org)."
            )
        )
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc = f"{netloc}:{port}"
    return f"{parts.scheme}://{netloc.lower()}"


def api_version_check(version: str) -> str:
    version = (version or "").strip().removeprefix("v")
    if not _API_VERSION.match(version):
        raise ValidationError(_("Enter an API version such as 62.0."))
    return version


# --- the client ------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    access_token: str
    org_id: str


def _error_body(response: requests.Response) -> tuple[str, str]:
    """(errorCode, message) of a REST error response (``[{"errorCode", "message"}]``)."""
    try:
        body = response.json()
    except ValueError:
        return "", response.text[:300]
    if isinstance(body, list) and body and isinstance(body[0], Mapping):
        return str(body[0].get("errorCode", "")), str(body[0].get("message", ""))
    if isinstance(body, Mapping):
        return str(body.get("errorCode", body.get("error", ""))), str(
            body.get("message", body.get("error_description", ""))
        )
    return "", response.text[:300]


class SalesforceClient:
    """One org, reached with the client credentials flow. Not thread-safe (one session)."""

    def __init__(
        self,
        *,
        instance_url: str,
        client_id: str,
        client_secret: str,
        api_version: str,
        timeout: float | None = None,
        session: requests.Session | None = None,
    ):
        self.instance_url = instance_url.rstrip("/")
        self.client_id = client_id
        self._client_secret = client_secret
        self.api_version = api_version
        self.timeout = timeout if timeout is not None else settings.SALESFORCE_TIMEOUT
        self.session = session or requests.Session()
        self._token: Token | None = None
        self.requests_made = 0

    # -- the token --

    def token(self) -> Token:
        """A new access token (``POST /services/oauth2/token``, grant client_credentials)."""
        try:
            response = self.session.post(
                f"{self.instance_url}/services/oauth2/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": self.client_id,
                    "client_secret": self._client_secret,
                },
                headers={"Accept": "application/json"},
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise SalesforceUnavailable(
                "connection",
                _("Salesforce could not be reached at %(url)s: %(error)s")
                % {"url": self.instance_url, "error": exc.__class__.__name__},
            ) from None
        self.requests_made += 1
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, Mapping):
            if response.status_code >= 500:
                raise SalesforceUnavailable(
                    "server",
                    _("Salesforce answered %(status)d to the token request.")
                    % {"status": response.status_code},
                    status=response.status_code,
                )
            error = str(body.get("error", "")) if isinstance(body, Mapping) else ""
            description = (
                str(body.get("error_description") or error) if isinstance(body, Mapping) else ""
            )
            raise SalesforceCredentialsRefused(
                error or "token",
                description
                or _("Salesforce refused the token request (%(status)d).")
                % {"status": response.status_code},
                status=response.status_code,
            )
        access_token = body.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise SalesforceAuthError("token", _("Salesforce sent no access token."))
        # "id": https://login.salesforce.com/id/<org id>/<user id>
        identity = str(body.get("id") or "").rstrip("/").split("/")
        org_id = identity[-2] if len(identity) >= 2 else ""
        self._token = Token(access_token=access_token, org_id=org_id[:18])
        return self._token

    # -- requests --

    def _get(self, path: str, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        if self._token is None:
            self.token()
        for attempt in (1, 2):
            assert self._token is not None
            try:
                response = self.session.get(
                    f"{self.instance_url}{path}",
                    params=params,
                    headers={
                        "Authorization": f"Bearer {self._token.access_token}",
                        "Accept": "application/json",
                        "Sforce-Query-Options": f"batchSize={BATCH_SIZE}",
                    },
                    timeout=self.timeout,
                    allow_redirects=False,
                )
                self.requests_made += 1
                if response.status_code == 200:
                    return self._page(response)
            except (
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError,
            ):
                raise SalesforceMalformedResponse(
                    "incomplete",
                    _("Salesforce's response was cut short (the connection dropped)."),
                ) from None
            except requests.RequestException as exc:
                raise SalesforceUnavailable(
                    "connection",
                    _("Salesforce could not be reached: %(error)s")
                    % {"error": exc.__class__.__name__},
                ) from None
            code, message = _error_body(response)
            if response.status_code == 401 and code == "INVALID_SESSION_ID" and attempt == 1:
                self.token()  # the session expired: a new token, and this request once more
                continue
            raise self._error(response.status_code, code, message)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _page(response: requests.Response) -> dict[str, Any]:
        try:
            body = json.loads(response.content)
        except ValueError:
            raise SalesforceMalformedResponse(
                "malformed", _("Salesforce sent a page that is not valid JSON.")
            ) from None
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise SalesforceMalformedResponse(
                "malformed", _("Salesforce sent a page without a list of records.")
            )
        return body

    @staticmethod
    def _error(status: int, code: str, message: str) -> SalesforceError:
        detail = f"{code}: {message}" if code else message
        if code == "REQUEST_LIMIT_EXCEEDED":
            return SalesforceLimitExceeded(
                code,
                _(
                    "Salesforce's daily API request limit is used up (%(detail)s). The next "
                    "pull resumes where this one stopped."
                )
                % {"detail": detail},
                status=status,
            )
        if code == "INVALID_TYPE":
            return SalesforceInvalidType(code, message, status=status)
        if status >= 500:
            return SalesforceUnavailable(
                code or "server",
                _("Salesforce answered %(status)d (%(detail)s). The next pull tries again.")
                % {"status": status, "detail": detail or _("no detail")},
                status=status,
            )
        if status == 401:
            return SalesforceAuthError(
                code or "unauthorized",
                _("Salesforce refused the access token twice (%(detail)s).") % {"detail": detail},
                status=status,
            )
        return SalesforceError(
            code or "refused",
            _("Salesforce refused the request (%(status)d %(detail)s).")
            % {"status": status, "detail": detail},
            status=status,
        )

    def query_pages(self, soql: str, *, include_deleted: bool = True) -> Iterator[dict[str, Any]]:
        """The pages of ``soql`` (``queryAll`` when ``include_deleted``), in order, each as
        Salesforce sent it; a page is fetched only when the previous one was consumed."""
        endpoint = "queryAll" if include_deleted else "query"
        page = self._get(f"/services/data/v{self.api_version}/{endpoint}/", {"q": soql})
        while True:
            yield page
            if page.get("done", True) is True:
                return
            following = page.get("nextRecordsUrl")
            if not isinstance(following, str) or not following.startswith("/services/data/"):
                raise SalesforceMalformedResponse(
                    "malformed", _("Salesforce sent a page without a usable nextRecordsUrl.")
                )
            page = self._get(following)
