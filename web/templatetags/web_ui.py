"""Template filters of the combined pages."""

from __future__ import annotations

from django import template
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@register.filter
def breakable(value) -> SafeString:
    """A long figure that may wrap after its group separators (``<wbr>``), so that a large
    amount wraps inside a narrow card instead of overflowing it."""
    text = str(conditional_escape(value))
    return mark_safe(text.replace(",", ",<wbr>"))  # noqa: S308 (escaped above)
