"""Template helpers of the pages: role checks, and numbers formatted for the locale."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django import template
from django.utils.formats import number_format

from pse_crm import roles
from pse_crm.permissions import request_role
from pse_crm.tenancy import current_tenant_or_none

register = template.Library()

_CAPABILITIES = {
    "read": roles.READ,
    "write": roles.WRITE_ENABLEMENT,
    "manage": roles.MANAGE,
    "own": roles.OWN,
}

_CURRENCY_SYMBOLS = {"JPY": "¥", "USD": "$", "EUR": "€", "GBP": "£"}
_CURRENCY_DIGITS = {"JPY": 0}


@register.filter
def can(request, capability: str) -> bool:
    """``{% if request|can:"manage" %}``: whether the member may do it (the server checks too)."""
    return roles.role_allows(request_role(request), _CAPABILITIES[capability])


@register.filter
def pct(value, digits: int = 1) -> str:
    """A ratio 0..1 as a percentage in the active locale; an em dash when unknown."""
    if value is None or value == "":
        return "—"
    # Rounded, not cut: number_format truncates (2/7 would read 28%, not 29%).
    percent = (Decimal(str(value)) * 100).quantize(Decimal(1).scaleb(-int(digits)), ROUND_HALF_UP)
    return number_format(percent, decimal_pos=int(digits), use_l10n=True) + "%"


@register.filter
def num(value, digits: int = 0) -> str:
    """A number with the locale's grouping; an em dash when unknown."""
    if value is None or value == "":
        return "—"
    return number_format(value, decimal_pos=int(digits), use_l10n=True, force_grouping=True)


def _corporate_currency() -> str:
    # Sums are in the tenant's corporate currency (activities.services.currencies).
    tenant = current_tenant_or_none()
    return getattr(tenant, "corporate_currency", None) or "JPY"


@register.filter
def money(value, currency: str | None = None) -> str:
    """An amount with its currency symbol and the locale's grouping; without a currency,
    in the corporate currency of the tenant in scope (every sum is), else JPY."""
    if value is None or value == "":
        return "—"
    currency = (currency or _corporate_currency()).upper()
    digits = _CURRENCY_DIGITS.get(currency, 2)
    amount = number_format(value, decimal_pos=digits, use_l10n=True, force_grouping=True)
    symbol = _CURRENCY_SYMBOLS.get(currency)
    return f"{symbol}{amount}" if symbol else f"{amount} {currency}"
