"""Request parsers: bounded JSON and raw CSV (over the body limit: 413; other types: 415).

``BoundedJSONParser`` is the API's one JSON parser (``DEFAULT_PARSER_CLASSES``). At this
level it refuses only what makes the whole body unreadable, with a 400: bytes that are not
text in JSON's encoding, nesting deeper than ``API_MAX_JSON_DEPTH``, ``NaN``/``Infinity``,
malformed JSON. What one record holds (NUL, a lone ``\\ud800`` escape, a number past a
column) is the services' to refuse, naming the record and the field.
"""

from __future__ import annotations

import json
from array import array
from itertools import accumulate

from django.conf import settings
from django.utils.translation import gettext
from rest_framework import exceptions, parsers

from pse_crm.api.limits import PayloadTooLarge, max_body_bytes

# Every byte but the JSON structure that decides nesting: brackets and quotes.
_NOT_STRUCTURE = bytes(sorted(set(range(256)) - set(b'"[]{}')))
# An opening bracket is one level down, a closing one up (0xff is -1 as a signed byte).
_LEVEL_STEP = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")


def max_json_depth() -> int:
    return getattr(settings, "API_MAX_JSON_DEPTH", 64)


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


def json_nesting_depth(data: bytes, limit: int) -> int:
    """How deep arrays and objects nest in the UTF-8 JSON ``data``, brackets inside strings
    not counted; any value at most ``limit`` when the nesting is within it.

    Without recursion and without decoding: json's C decoder recurses once per level and
    runs out of stack (RecursionError) long before it could report a malformed body. Up
    to the first error in a malformed body this is the depth the decoder would reach, and
    never less. The work is bytes operations in C plus one step per bracket outside strings.
    """
    if data.count(b"[") + data.count(b"{") <= limit:
        return 0
    if b"\\" in data:
        # Escapes, left to right: an escaped backslash, then an escaped quote, are text.
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    data = data.translate(None, _NOT_STRUCTURE)
    # Two quotes in a row change no bracket's side of a string: drop them (C speed).
    data = data.replace(b'""', b"")
    if b'"' in data:
        # Outside strings are the even pieces; an unclosed string runs to the end.
        data = b"".join(data.split(b'"')[::2])
    if data.count(b"[") + data.count(b"{") <= limit:
        return 0
    return max(accumulate(array("b", data.translate(_LEVEL_STEP))), default=0)


class BoundedJSONParser(parsers.JSONParser):
    """JSON with a size limit (413 past it), a depth limit and a clear 400 for malformed
    input."""

    def parse(self, stream, media_type=None, parser_context=None):
        data = _read_bounded(stream)
        # JSON's own encoding (UTF-8, or UTF-16/32 by its first bytes), strictly: json.loads
        # would decode bytes with "surrogatepass" and hand a lone surrogate to the view.
        encoding = json.detect_encoding(data)
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            raise exceptions.ParseError(
                gettext("The request body is not valid %(encoding)s.")
                % {"encoding": "UTF-8" if encoding.startswith("utf-8") else encoding.upper()}
            ) from None
        limit = max_json_depth()
        utf8 = data if encoding.startswith("utf-8") else text.encode()
        if json_nesting_depth(utf8, limit) > limit:
            raise _too_deep(limit)
        try:
            return json.loads(text, parse_constant=_reject_constant)
        except RecursionError:  # only with a limit set past what the stack holds
            raise _too_deep(limit) from None
        except ValueError as exc:
            raise exceptions.ParseError(
                gettext("Malformed JSON: %(error)s") % {"error": exc}
            ) from None


def _too_deep(limit: int) -> exceptions.ParseError:
    return exceptions.ParseError(
        gettext("Malformed JSON: arrays and objects nest deeper than %(limit)d levels.")
        % {"limit": limit}
    )


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


class RawCSVParser(parsers.BaseParser):
    """``text/csv`` bodies handed to the service as bytes (size-limited: 413 past it)."""

    media_type = "text/csv"

    def parse(self, stream, media_type=None, parser_context=None):
        return _read_bounded(stream)
