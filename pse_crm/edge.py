"""The edge check: input PostgreSQL cannot store answers 400, never a 500.

A query string (every page and endpoint) or a form body (pages) that holds a NUL byte,
bytes that are not text in the request's charset (``%ED%A0%80``, an encoded surrogate;
``%FF``), or a lone surrogate is refused before any view runs: PostgreSQL refuses NUL in
text, and Django would quietly turn undecodable bytes into U+FFFD. So is a session cookie
holding NUL (Django looks its key up in the database before any view). JSON and CSV
bodies are not read here: their parsers and the services refuse what they cannot use, by
record.

A value that still reaches the database and is refused there (``django.db.DataError``: too
long, NUL, a number out of range) is a 400 page too; the API's exception handler answers
it in the API's error shape. No other error is caught.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.core.handlers.wsgi import WSGIRequest
from django.db import DataError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.utils import translation
from django.utils.html import format_html
from django.utils.translation import gettext as _

from pse_crm.text import unstorable

log = logging.getLogger(__name__)

API_PREFIX = "/api/"
_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def unstorable_text(text: str) -> bool:
    """Whether ``text`` holds a character PostgreSQL cannot store (UTF-8 database): NUL,
    or a lone surrogate (which no UTF-8 encoder writes)."""
    return unstorable(text)


def unstorable_encoded(raw: bytes, encoding: str) -> bool:
    """Whether percent-encoded ``raw`` (a query string, a form body) is not text in
    ``encoding`` once decoded, or decodes to text PostgreSQL cannot store."""
    try:
        text = unquote_to_bytes(raw).decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return True
    return unstorable_text(text)


def _raw_query_string(request: HttpRequest) -> bytes:
    query = request.META.get("QUERY_STRING", "")
    if isinstance(request, WSGIRequest):
        return query.encode("iso-8859-1")  # PEP 3333: the bytes as received
    return query.encode("utf-8", "surrogatepass")


def _unstorable_form(request: HttpRequest) -> bool:
    if request.method != "POST" or request.content_type not in _FORM_TYPES:
        return False
    if request.content_type == "multipart/form-data":
        # Django's multipart parser decodes with "replace": only NUL can come through.
        return any(
            "\x00" in key or any("\x00" in value for value in values)
            for key, values in request.POST.lists()
        )
    return unstorable_encoded(request.body, request.encoding or settings.DEFAULT_CHARSET)


def bad_request(request: HttpRequest, message: str) -> HttpResponse:
    """The API's error shape under /api/, else a plain page (no template: it must render
    before the session, the tenant or the database are touched)."""
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"detail": message}, status=400)
    title = _("Bad request")
    return HttpResponseBadRequest(
        format_html(
            '<!doctype html><html lang="{}"><head><meta charset="utf-8"><title>{}</title>'
            "</head><body><h1>{}</h1><p>{}</p></body></html>",
            translation.get_language(),
            title,
            title,
            message,
        ),
        content_type="text/html; charset=utf-8",
    )


class UnstorableInputMiddleware:
    """Installed early (before the session): see the module docstring."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        encoding = request.encoding or settings.DEFAULT_CHARSET
        refused = (
            unstorable_encoded(_raw_query_string(request), encoding)
            or unstorable_text(request.COOKIES.get(settings.SESSION_COOKIE_NAME, ""))
            or (not request.path.startswith(API_PREFIX) and _unstorable_form(request))
        )
        if refused:
            log.info("unstorable input refused: %s %s", request.method, request.path)
            # LocaleMiddleware has not run yet: the browser's language, as it would choose.
            with translation.override(translation.get_language_from_request(request)):
                return bad_request(
                    request,
                    _(
                        "The request holds characters that cannot be stored (a NUL byte, "
                        "or bytes that are not UTF-8 text)."
                    ),
                )
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception):
        if not isinstance(exception, DataError):
            return None
        log.info("data error in %s %s", request.method, request.path, exc_info=exception)
        return bad_request(
            request,
            _("A value does not fit its field: too long, too large, or not storable text."),
        )
