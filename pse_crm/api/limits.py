"""The API's batch and body limits (``API_MAX_BATCH_RECORDS``, ``API_MAX_BODY_BYTES``): 413."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, status


def max_body_bytes() -> int:
    return getattr(settings, "API_MAX_BODY_BYTES", 64 * 1024 * 1024)


def max_batch_records() -> int:
    return getattr(settings, "API_MAX_BATCH_RECORDS", 10_000)


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = _("The request body is too large.")
    default_code = "payload_too_large"


def check_batch_size(count: int) -> None:
    """Raise 413 when a batch holds more records than the API accepts in one request."""
    limit = max_batch_records()
    if count > limit:
        raise PayloadTooLarge(
            gettext("A batch holds at most %(limit)d records; this one has %(count)d.")
            % {"limit": limit, "count": count}
        )
