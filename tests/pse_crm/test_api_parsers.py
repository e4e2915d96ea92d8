"""The API's one JSON parser: what makes a whole body unreadable is a 400 in the error shape.

A body nested deeper than ``API_MAX_JSON_DEPTH`` (the C decoder would hit Python's
recursion limit: a 500) and bytes that are not UTF-8 (an encoded surrogate included) are
refused before any view sees them. What one record holds is the services' to refuse.
"""

from __future__ import annotations

import io

import pytest
from django.test import override_settings
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework import exceptions
from rest_framework.settings import api_settings

from pse_crm.api.parsers import (
    BoundedJSONParser,
    RawCSVParser,
    SafeXMLApplicationParser,
    SafeXMLParser,
    StreamingCSVParser,
)

DEEP = 10_000


def parse(body: bytes | str):
    if isinstance(body, str):
        body = body.encode()
    return BoundedJSONParser().parse(io.BytesIO(body), "application/json")


def refused(body: bytes | str) -> str:
    with pytest.raises(exceptions.ParseError) as caught:
        parse(body)
    return str(caught.value.detail)


@pytest.mark.parametrize(
    "body",
    [
        "[" * DEEP + "]" * DEEP,
        '{"a":' * DEEP + "1" + "}" * DEEP,
        "[" * DEEP,  # never closed: the decoder would still recurse first
        '{"records": [' + "[" * DEEP + "]" * DEEP + "]}",
        "[{}," * DEEP + "0" + "]" * DEEP,
    ],
    ids=["arrays", "objects", "unclosed", "inside-records", "mixed"],
)
def test_json_nested_too_deep_is_refused_without_recursing(body):
    assert "64" in refused(body)


def test_the_depth_limit_is_exact_and_a_setting():
    value = parse("[" * 64 + "]" * 64)
    for _ in range(63):
        [value] = value
    assert value == []
    assert "64" in refused("[" * 65 + "]" * 65)
    with override_settings(API_MAX_JSON_DEPTH=3):
        assert parse('{"a": [[1]]}') == {"a": [[1]]}
        assert "3" in refused('{"a": [[[1]]]}')
        # Brackets inside strings (escaped quotes too) are text, not nesting.
        text = '"\\"' + "[{" * DEEP + '"'
        assert parse(f'{{"name": {text}, "b": ["]]"]}}') == {
            "name": '"' + "[{" * DEEP,
            "b": ["]]"],
        }


def test_bytes_that_are_not_utf8_are_refused():
    # json.loads would decode bytes with "surrogatepass": a lone surrogate in a string.
    assert "UTF-8" in refused(b'{"name": "\xed\xa0\x80"}')
    assert "UTF-8" in refused(b'{"name": "\xff\xfe"}')
    assert "UTF-8" in refused(b'{"name": "\xc0\x80"}')  # an overlong NUL
    assert parse('{"name": "サンプル"}'.encode()) == {"name": "サンプル"}
    assert parse(b"\xef\xbb\xbf[1]") == [1]  # a byte-order mark is allowed, as before


def _api_views():
    def walk(resolver, prefix=""):
        for entry in resolver.url_patterns:
            if isinstance(entry, URLResolver):
                yield from walk(entry, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern) and hasattr(entry.callback, "cls"):
                yield prefix + str(entry.pattern), entry.callback.cls

    return sorted({(route, cls) for route, cls in walk(get_resolver())}, key=lambda r: r[0])


def test_every_api_endpoint_parses_json_with_the_bounded_parser():
    assert [BoundedJSONParser] == api_settings.DEFAULT_PARSER_CLASSES
    views = _api_views()
    assert len(views) >= 20
    bounded = {BoundedJSONParser, RawCSVParser, StreamingCSVParser}
    # Salesforce Outbound Messages are SOAP only: defusedxml, no JSON at all.
    soap = {SafeXMLParser, SafeXMLApplicationParser}
    wrong = {
        route: [p.__name__ for p in cls.parser_classes]
        for route, cls in views
        if set(cls.parser_classes) != soap
        and (not set(cls.parser_classes) <= bounded or BoundedJSONParser not in cls.parser_classes)
    }
    assert wrong == {}
