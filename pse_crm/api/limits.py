"""The API's batch and body limits (``API_MAX_BATCH_RECORDS``, ``API_MAX_BODY_BYTES``, and
``API_MAX_DEAL_CSV_ROWS`` for a Bulk API CSV on the deal sync): 413."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, status


def max_body_bytes() -> int:
    return getattr(settings, "API_MAX_BODY_BYTES", 64 * 1024 * 1024)


def max_batch_records() -> int:
    return getattr(settings, "API_MAX_BATCH_RECORDS", 10_000)


def max_deal_csv_rows() -> int:
    """Rows of a Bulk API CSV on ``deals/sync/``: a Bulk API 2.0 result page holds 50,000."""
    return getattr(settings, "API_MAX_DEAL_CSV_ROWS", 50_000)


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = _("The request body is too large.")
    default_code = "payload_too_large"


def check_batch_size(count: int, *, limit: int | None = None) -> None:
    """Raise 413 when a batch holds more records than the API accepts in one request
    (``limit``, by default ``API_MAX_BATCH_RECORDS``)."""
    limit = max_batch_records() if limit is None else limit
    if count > limit:
        raise PayloadTooLarge(
            gettext("A batch holds at most %(limit)d records; this one has %(count)d.")
            % {"limit": limit, "count": count}
        )


def batch_too_large(limit: int) -> PayloadTooLarge:
    """The 413 of a streamed batch, found to pass ``limit`` records before its end."""
    return PayloadTooLarge(
        gettext("A batch holds at most %(limit)d records; this one has more.") % {"limit": limit}
    )
