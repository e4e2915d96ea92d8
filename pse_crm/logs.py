"""Logs: one JSON object a line (``LOG_FORMAT=json``) or text, every record carrying the
request id and the tenant id.

* ``RequestIdMiddleware`` (outermost) takes the request id from ``X-Request-ID`` when it
  looks sane (the proxy or load balancer set it), else makes a uuid4, echoes it in the
  response header, and writes one access line per request (logger ``pse_crm.access``;
  probes that succeed are not logged).
* ``ContextFilter`` (on the console handler) adds ``request_id`` and ``tenant_id`` to
  every record: the tenant in scope (a page, an API call, a Celery task), else the
  request's. Only the tenant's id, never its data.
* Secrets in paths are redacted (``redact_path``): the Salesforce Outbound Messages
  endpoint carries its API key in the URL (Salesforce cannot send a header). The access
  line writes the redacted path, and ``ContextFilter`` redacts every record's message,
  ``path`` and traceback (Django's own "Unauthorized: /api/…" and "Internal Server Error:
  /api/…" lines included).

Loaded by ``settings.LOGGING`` before the apps are: this module imports no model.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponse
from django.utils.functional import LazyObject
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from pse_crm.paths import UNSCOPED_PATHS
from pse_crm.tenancy import current_tenant_or_none

REQUEST_ID_HEADER = "X-Request-ID"
# Letters, digits and a little punctuation (uuids, trace ids), at most 128 characters.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:=+/-]{0,127}")

# The key of POST /api/v1/salesforce/outbound/<key>/ (activities/api_outbound.py).
_SECRET_IN_PATH = re.compile(r"(/salesforce/outbound/)[^/?#\s\"'<>]+", re.IGNORECASE)
REDACTED = "[redacted]"

access_log = logging.getLogger("pse_crm.access")
_request: ContextVar[HttpRequest | None] = ContextVar("pse_crm_log_request", default=None)


def request_tenant_id(request: HttpRequest | None) -> int | None:
    """The request's tenant id, once known: the session's (TenantMiddleware) or the API
    key's. Never evaluates the lazy user (that could query the database)."""
    if request is None:
        return None
    tenant = getattr(request, "tenant", None)
    if tenant is None:
        # DRF puts the API key's principal in place of the lazy user once authenticated.
        user = request.__dict__.get("user")
        if user is not None and not isinstance(user, LazyObject):
            tenant = getattr(user, "tenant", None)
    return getattr(tenant, "pk", None)


def redact_path(text: str) -> str:
    """``text`` with the secret of any path that carries one replaced by ``[redacted]``."""
    return _SECRET_IN_PATH.sub(rf"\g<1>{REDACTED}", text)


def _redact(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a broken format: logging reports it when it formats the record
        return
    redacted = redact_path(message)
    if redacted != message:
        record.msg, record.args = redacted, None
    path = getattr(record, "path", None)
    if isinstance(path, str):
        record.path = redact_path(path)
    if record.exc_info and not record.exc_text:
        # Formatted now (the formatter reuses exc_text), so that a traceback is redacted too.
        record.exc_text = redact_path(logging.Formatter().formatException(record.exc_info))
    elif record.exc_text:
        record.exc_text = redact_path(record.exc_text)


class ContextFilter(logging.Filter):
    """Adds ``request_id`` and ``tenant_id`` (None outside a request / a tenant), and
    redacts secrets in paths (``redact_path``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = _request.get()
        if request is None and isinstance(getattr(record, "request", None), HttpRequest):
            request = record.request  # django.request's records, logged after the middleware
        record.request_id = getattr(request, "request_id", None)
        tenant = current_tenant_or_none()
        record.tenant_id = tenant.pk if tenant is not None else request_tenant_id(request)
        _redact(record)
        return True


class JsonFormatter(_JsonFormatter):
    """time (ISO 8601, UTC), level, logger, message, request_id, tenant_id, any ``extra``
    fields, and ``exc_info`` as text."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("fmt", ["levelname", "name", "message", "request_id", "tenant_id"])
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        kwargs.setdefault("timestamp", "time")
        # django.request puts the HttpRequest itself in its records: not for the log.
        kwargs.setdefault("reserved_attrs", [*RESERVED_ATTRS, "request"])
        super().__init__(*args, **kwargs)


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get(REQUEST_ID_HEADER, "")
        request.request_id = given if SANE_REQUEST_ID.fullmatch(given) else str(uuid.uuid4())
        token = _request.set(request)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request.request_id
            if response.status_code >= 400 or request.path_info not in UNSCOPED_PATHS:
                path = redact_path(request.path)
                access_log.info(
                    "%s %s %s",
                    request.method,
                    path,
                    response.status_code,
                    extra={
                        "method": request.method,
                        "path": path,
                        "status": response.status_code,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    },
                )
            return response
        finally:
            _request.reset(token)
