"""The API's routes answer with or without their trailing slash, and never redirect.

Clients follow a 301 as a GET: a ``POST /api/v1/deals/sync`` redirected by ``APPEND_SLASH``
came back 200 with the watermark and wrote nothing. So every API route has a twin without
the slash that calls the same view directly. The twin is unnamed and left out of the
schema: URLs are reversed and documented with the slash, one operation each.
"""

from __future__ import annotations

from django.urls import URLPattern, path, re_path
from rest_framework.routers import SimpleRouter


def _twin_view(callback):
    """The same DRF view, left out of the OpenAPI schema (``schema=None``); any other view
    as it is."""
    cls = getattr(callback, "cls", None)
    if cls is None or not hasattr(callback, "initkwargs"):
        return callback
    initkwargs = {**callback.initkwargs, "schema": None}
    actions = getattr(callback, "actions", None)
    return cls.as_view(actions, **initkwargs) if actions is not None else cls.as_view(**initkwargs)


def without_slash_twins(patterns: list[URLPattern]) -> list[URLPattern]:
    """``patterns``, each followed by its twin without the trailing slash (when it has one)."""
    out: list[URLPattern] = []
    for pattern in patterns:
        out.append(pattern)
        regex = pattern.pattern.regex.pattern
        if regex.endswith("/$"):
            out.append(re_path(regex[:-2] + "$", _twin_view(pattern.callback)))
    return out


def optional_slash(route: str, view, *, name: str, twin=None) -> list[URLPattern]:
    """``path(route, view, name=name)`` (``route`` ends with "/") and its twin without it.

    Pass ``twin`` for a decorated view (rebuilding it from its class would drop the
    decorator); it must stay out of the schema by itself."""
    assert route.endswith("/"), route
    return [path(route, view, name=name), path(route[:-1], twin or _twin_view(view))]


class APIRouter(SimpleRouter):
    """``SimpleRouter`` whose every route also answers without its trailing slash."""

    def get_urls(self):
        return without_slash_twins(super().get_urls())
