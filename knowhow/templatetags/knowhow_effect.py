"""Template filters of the know-how effect."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django import template
from django.utils.formats import number_format
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def points(value, digits: int = 1) -> str:
    """A difference of two shares (fractions) in signed percentage points: ``+12.5 pp``;
    an em dash when unknown. Rounded half up, like ``pct``."""
    if value is None or value == "":
        return "—"
    step = Decimal(1).scaleb(-int(digits))
    value = (Decimal(str(value)) * 100).quantize(step, ROUND_HALF_UP)
    sign = "+" if value > 0 else ("−" if value < 0 else "±")
    text = number_format(abs(value), decimal_pos=int(digits), use_l10n=True)
    return _("%(sign)s%(value)s pp") % {"sign": sign, "value": text}
