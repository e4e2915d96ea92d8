"""Errors: batch validation (400 with one entry per bad record, nothing written) and the
one exception handler that turns every error into the documented shape."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError, DataError, IntegrityError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views import defaults as django_defaults
from django.views.decorators.csrf import csrf_exempt
from django_scopes import ScopeError
from rest_framework import exceptions, status
from rest_framework.exceptions import ErrorDetail
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from pse_crm.api.limits import PayloadTooLarge, check_batch_size
from pse_crm.models import Membership
from pse_crm.text import has_surrogate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecordError:
    """One bad record of a batch: where it is (``index`` in a JSON array, ``line`` in CSV)."""

    field: str
    message: str
    index: int | None = None
    line: int | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.index is not None:
            out["index"] = self.index
        if self.line is not None:
            out["line"] = self.line
        out["field"] = self.field
        out["message"] = str(self.message)
        return out


class BatchInvalid(exceptions.APIException):
    """A batch with at least one bad record: 400, one entry per bad record, nothing written."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"

    def __init__(self, errors: Sequence[RecordError], detail: str | None = None):
        self.errors = list(errors)
        super().__init__(
            detail
            or gettext("%(count)d record(s) are invalid; nothing was written.")
            % {"count": len({(e.index, e.line) for e in self.errors})}
        )

    @classmethod
    def from_rows(cls, errors: Sequence[Any], *, by_line: bool) -> BatchInvalid:
        """From a reader's or a service's row errors (each with ``row``, ``field`` and
        ``message``): ``row`` is a CSV line when ``by_line``, else a JSON array index."""
        return cls(
            [
                RecordError(
                    line=e.row if by_line else None,
                    index=None if by_line else e.row,
                    field=e.field,
                    message=str(e.message),
                )
                for e in errors
            ]
        )


def _flatten_errors(detail, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(detail, dict):
        out = []
        for key, value in detail.items():
            name = "" if key == api_settings.NON_FIELD_ERRORS_KEY else str(key)
            out.extend(
                _flatten_errors(value, f"{prefix}.{name}" if prefix and name else prefix or name)
            )
        return out
    if isinstance(detail, list):
        out = []
        for value in detail:
            out.extend(_flatten_errors(value, prefix))
        return out
    return [(prefix, str(detail))]


def validate_batch(serializer_class, records, *, context=None) -> list[dict]:
    """Validate a JSON array of records with ``serializer_class``.

    Raises 400 (``BatchInvalid``: one entry per bad field of each bad record, with its
    index) when any record is invalid, and 413 past the batch limit.
    """
    if not isinstance(records, list):
        raise exceptions.ParseError(gettext("Expected a JSON array of records."))
    check_batch_size(len(records))
    serializer = serializer_class(data=records, many=True, context=context or {})
    if serializer.is_valid():
        return list(serializer.validated_data)
    # DRF lists one entry per record, or (3.16+) maps the index of each bad record.
    by_index = serializer.errors
    items = by_index.items() if isinstance(by_index, dict) else enumerate(by_index)
    errors = [
        RecordError(index=int(index), field=field, message=message)
        for index, record_errors in sorted(items, key=lambda item: int(item[0]))
        for field, message in _flatten_errors(record_errors)
    ]
    raise BatchInvalid(errors)


def reject_duplicate_keys(records: Sequence[dict], *fields: str) -> None:
    """400 when two records of one batch share a key (compared case-insensitively)."""
    errors = []
    for field in fields:
        seen: dict[object, int] = {}
        for index, record in enumerate(records):
            value = record.get(field)
            if not value:
                continue
            key = value.lower() if isinstance(value, str) else value
            if key in seen:
                errors.append(
                    RecordError(
                        index=index,
                        field=field,
                        message=gettext("The same value is in record %(other)d of this batch.")
                        % {"other": seen[key]},
                    )
                )
            else:
                seen[key] = index
    if errors:
        raise BatchInvalid(errors)


def service_error_as_api_error(exc: DjangoValidationError) -> exceptions.ValidationError:
    """A service's refusal as the API's 400, with the same messages: by field
    (``{"due_on": ["…"]}``) when the service named fields, else ``{"detail": ["…"]}``."""
    if hasattr(exc, "error_dict"):
        return exceptions.ValidationError(exc.message_dict)
    return exceptions.ValidationError({"detail": exc.messages})


def exception_handler(exc, context):
    """DRF's handler, plus: a service's ValidationError is a 400 and its PermissionDenied a
    403 (viewsets call services without a try), a scope miss is a 404, a bad batch lists
    its bad records, a uniqueness race is a 409, an over-size body a 413, a value the
    database refuses (DataError) or a number that overflows a 400, and a database outage a
    clear 503. Every error renders, even one that quotes a lone surrogate of the input."""
    if isinstance(exc, BatchInvalid):
        return Response(
            _renderable({"detail": str(exc.detail), "errors": [e.as_dict() for e in exc.errors]}),
            status=exc.status_code,
        )
    if isinstance(exc, DjangoValidationError):
        exc = service_error_as_api_error(exc)
    if isinstance(exc, ScopeError | Membership.DoesNotExist):
        exc = Http404()
    if isinstance(exc, DjangoPermissionDenied):
        # The service's own message when it gave one, DRF's default otherwise.
        exc = exceptions.PermissionDenied(*exc.args[:1])
    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    response = drf_exception_handler(exc, context)
    if response is None and isinstance(exc, ProtectedError | RestrictedError):
        return Response(
            {"detail": _("It cannot be deleted: other records (reps, views, deals) refer to it.")},
            status=409,
        )
    if response is None and isinstance(exc, IntegrityError):
        log.info("integrity error in API request", exc_info=True)
        return Response(
            {"detail": _("This conflicts with a record stored meanwhile; retry the request.")},
            status=409,
        )
    if response is None and isinstance(exc, DataError):
        # What got past validation and PostgreSQL refused: too long, NUL, out of range.
        log.info("data error in API request", exc_info=True)
        return Response({"detail": _("A value does not fit its field.")}, status=400)
    if response is None and isinstance(exc, OverflowError):
        # A number no integer column holds (1e309 is infinity) met a lookup or a date.
        log.info("numeric overflow in API request", exc_info=True)
        return Response({"detail": _("A number is out of range.")}, status=400)
    if response is None and isinstance(exc, DatabaseError):
        log.exception("database error in API request")
        return Response({"detail": _("The database is unavailable; try again.")}, status=503)
    if response is not None:
        response.data = _renderable(response.data)
    return response


def _renderable(data):
    """``data`` with lone surrogates (which no UTF-8 encoder writes) as ``\\ud800`` text:
    an error message that quotes the input (``"a\\ud800" is not a valid choice``) renders."""
    if isinstance(data, dict):
        return {_renderable(key): _renderable(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_renderable(value) for value in data]
    if isinstance(data, str) and has_surrogate(data):
        text = data.encode("utf-8", "backslashreplace").decode("utf-8")
        return ErrorDetail(text, code=data.code) if isinstance(data, ErrorDetail) else text
    return data


# --- errors outside DRF's views: JSON under /api/, the usual pages elsewhere --------------

API_PREFIX = "/api/"


def _is_api(request) -> bool:
    return request.path.startswith(API_PREFIX)


@csrf_exempt
def api_not_found(request, *args, **kwargs):
    """The last route under /api/: an unknown path is a JSON 404 for every method (never a
    redirect that adds a slash, never a page, never a CSRF refusal)."""
    return JsonResponse({"detail": gettext("No API endpoint at this path.")}, status=404)


def page_not_found(request, exception=None):
    """``handler404``: the API's shape under /api/ (an Http404 outside DRF's views)."""
    if _is_api(request):
        return JsonResponse({"detail": gettext("Not found.")}, status=404)
    return django_defaults.page_not_found(request, exception)


def permission_denied(request, exception=None):
    """``handler403``."""
    if _is_api(request):
        detail = str(exceptions.PermissionDenied.default_detail)
        return JsonResponse({"detail": detail}, status=403)
    return django_defaults.permission_denied(request, exception)


def bad_request(request, exception=None):
    """``handler400``: a suspicious request (bad Host header, a broken multipart body)."""
    if _is_api(request):
        return JsonResponse({"detail": gettext("Bad request.")}, status=400)
    return django_defaults.bad_request(request, exception)


def server_error(request):
    """``handler500``: an unexpected error. Never the traceback; the log has it."""
    if _is_api(request):
        return JsonResponse(
            {"detail": gettext("An unexpected error occurred; it has been logged.")}, status=500
        )
    return django_defaults.server_error(request)
