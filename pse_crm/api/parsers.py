"""Request parsers: bounded JSON, CSV (raw or streamed) and XML (over the body limit: 413;
other types: 415).

``BoundedJSONParser`` is the API's one JSON parser (``DEFAULT_PARSER_CLASSES``). At this
level it refuses only what makes the whole body unreadable, with a 400: bytes that are not
text in JSON's encoding, nesting deeper than ``API_MAX_JSON_DEPTH``, ``NaN``/``Infinity``,
malformed JSON. What one record holds (NUL, a lone ``\\ud800`` escape, a number past a
column) is the services' to refuse, naming the record and the field.

``StreamingCSVParser`` hands the view the body as a binary stream read on demand
(``bounded_stream``: 413 as soon as more than ``API_MAX_BODY_BYTES`` have been read), never
the whole bytes; ``utf8_lines`` decodes it a line at a time, strictly (``NotUTF8`` names
the line). ``SafeXMLParser`` reads SOAP with defusedxml: no DTD, no entity, no external
reference (XML bombs and XXE are refused before anything is expanded).
"""

from __future__ import annotations

import io
import json
from array import array
from collections.abc import Iterator
from itertools import accumulate
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as defused_fromstring
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


# --- streamed bodies ----------------------------------------------------------------------

_BOM = b"\xef\xbb\xbf"
_STREAM_BUFFER = 64 * 1024


class _BoundedRaw(io.RawIOBase):
    """``stream`` read on demand; reading past ``limit`` bytes raises ``PayloadTooLarge``."""

    def __init__(self, stream, limit: int):
        self._stream = stream
        self._limit = limit
        self._read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._stream is None:
            return 0
        # One byte past the limit is enough to know the body is too large.
        want = min(len(buffer), self._limit + 1 - self._read)
        data = self._stream.read(want)
        count = len(data)
        buffer[:count] = data
        self._read += count
        if self._read > self._limit:
            raise PayloadTooLarge(
                gettext("The request body is larger than %(limit)d bytes.") % {"limit": self._limit}
            )
        return count


def bounded_stream(stream, *, limit: int | None = None) -> io.BufferedReader:
    """A buffered binary stream over ``stream`` (None: empty) that raises 413 past ``limit``
    bytes (by default ``API_MAX_BODY_BYTES``) when read that far."""
    return io.BufferedReader(
        _BoundedRaw(stream, max_body_bytes() if limit is None else limit), _STREAM_BUFFER
    )


class NotUTF8(ValueError):
    """A line that is not UTF-8 text; ``line`` is its 1-based number."""

    def __init__(self, line: int):
        self.line = line
        super().__init__(f"line {line} is not UTF-8")


def utf8_lines(stream) -> Iterator[str]:
    """The lines of a binary stream, decoded as UTF-8 one at a time (line endings kept, a
    byte-order mark at the start dropped). Raises ``NotUTF8`` with the line's number.

    Lines are split at LF only, which UTF-8 never uses inside a character, so each line
    decodes alone; a CR before it stays (CRLF), and a CSV reader handles both.
    """
    for number, raw in enumerate(stream, start=1):
        if number == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM) :]
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError:
            raise NotUTF8(number) from None


class StreamingCSVParser(parsers.BaseParser):
    """``text/csv`` bodies handed to the view as a bounded binary stream (``bounded_stream``),
    read while the view consumes it: memory stays flat whatever the body's size."""

    media_type = "text/csv"

    def parse(self, stream, media_type=None, parser_context=None):
        return bounded_stream(stream)


# --- XML ---------------------------------------------------------------------------------


class SafeXMLParser(parsers.BaseParser):
    """``text/xml`` (SOAP 1.1) parsed by defusedxml into an ``Element``: a DTD, an entity
    declaration or an external reference is refused (400), as is malformed XML; the body
    limit holds (413)."""

    media_type = "text/xml"

    def parse(self, stream, media_type=None, parser_context=None) -> Element:
        return parse_xml(_read_bounded(stream))


class SafeXMLApplicationParser(SafeXMLParser):
    media_type = "application/xml"


def parse_xml(data: bytes) -> Element:
    """The root of the XML ``data``; ``ParseError`` (400) for a DTD, entities, external
    references or malformed XML."""
    try:
        return defused_fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise exceptions.ParseError(
            gettext("The XML body declares a DTD or entities, which are not accepted.")
        ) from None
    except (ParseError, ValueError) as exc:
        raise exceptions.ParseError(gettext("Malformed XML: %(error)s") % {"error": exc}) from None
