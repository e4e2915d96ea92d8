"""Template context of this app: the deal-signal count in the navigation."""

from __future__ import annotations

from functools import cache

from django.http import HttpRequest


def deal_signals(request: HttpRequest) -> dict:
    """``deal_signal_count``: the tenant's open signals, counted only if a page shows it."""
    if getattr(request, "tenant", None) is None or not request.user.is_authenticated:
        return {}

    @cache
    def count() -> int:
        from deal_signals.selectors import deal_signal_open_count

        return deal_signal_open_count()

    # A callable: the template calls it (one COUNT) only where the navigation is drawn.
    return {"deal_signal_count": count}
