"""Template filters of the segmentation's statistics."""

from __future__ import annotations

from django import template
from django.utils.formats import number_format

register = template.Library()

# Below this a p-value reads "p < 0.0001": four decimals would print it as 0.0000, which
# reads as "no chance at all", a claim no sample supports.
P_VALUE_FLOOR = 0.0001


@register.filter
def p_value(value) -> str:
    """A p-value with its relation: ``"= 0.0123"``, ``"< 0.0001"``; an em dash when
    unknown. Written after a "p": ``p {{ value|p_value }}``."""
    if value is None or value == "":
        return "—"
    value = float(value)
    if value < P_VALUE_FLOOR:
        return "< " + number_format(P_VALUE_FLOOR, decimal_pos=4, use_l10n=True)
    return "= " + number_format(round(value, 4), decimal_pos=4, use_l10n=True)
