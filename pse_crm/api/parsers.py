"""Request parsers: bounded JSON and raw CSV (over the body limit: 413; other types: 415)."""

from __future__ import annotations

import json

from django.utils.translation import gettext
from rest_framework import exceptions, parsers

from pse_crm.api.limits import PayloadTooLarge, max_body_bytes


def _read_bounded(stream) -> bytes:
    if stream is None:
        return b""
    limit = max_body_bytes()
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(
            gettext("The request body is larger than %(limit)d bytes.") % {"limit": limit}
        )
    return data


class BoundedJSONParser(parsers.JSONParser):
    """JSON with a size limit (413 past it) and a clear 400 for malformed input."""

    def parse(self, stream, media_type=None, parser_context=None):
        data = _read_bounded(stream)
        try:
            return json.loads(data, parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError) as exc:
            raise exceptions.ParseError(
                gettext("Malformed JSON: %(error)s") % {"error": exc}
            ) from None


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


class RawCSVParser(parsers.BaseParser):
    """``text/csv`` bodies handed to the service as bytes (size-limited: 413 past it)."""

    media_type = "text/csv"

    def parse(self, stream, media_type=None, parser_context=None):
        return _read_bounded(stream)
