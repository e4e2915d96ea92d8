"""Partner totals (the denominators of share of wallet): the one write, for the partner
page, the CSV import (page and ``import_partner_totals``) and ``POST partner-totals/``.

It lives here, not in ``partners``, because a total's currency must have a rate, and rates
are ``activities``' (a layer above ``partners``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from activities.deal_inputs import CURRENCY_CODE
from activities.services.currencies import convert_amount
from partners.models import Partner, PartnerTotal
from partners.periods import PeriodError, period_granularity
from partners.totals_csv import (
    PartnerTotalsInvalid,
    TotalsRowError,
    partner_total_records_from_csv,
    partner_totals_resolve,
)
from pse_crm.bulk import BulkUpsertResult, bulk_upsert_rows
from pse_crm.models import Tenant
from pse_crm.tenancy import require_scope

__all__ = [
    "PartnerTotalsInvalid",
    "TotalsRowError",
    "partner_totals_import_csv",
    "partner_totals_upsert",
]

# numeric(18, 2): 16 digits before the point.
_MAX_AMOUNT = Decimal("1e16")
_MAX_NAMES = 50
_MAX_NAME_LENGTH = 200
_MAX_SMALL = 32767


def _clean(
    *, tenant: Tenant, index: int, record: Mapping[str, Any], errors: list[TotalsRowError]
) -> dict[str, Any] | None:
    """One record's stored values, or None after adding its problems to ``errors``."""

    def fail(field: str, message: str) -> None:
        errors.append(TotalsRowError(index, field, message))

    before = len(errors)
    partner = record.get("partner")
    if not isinstance(partner, Partner) or partner.tenant_id != tenant.pk:
        fail("partner", _("No such partner."))
    start, end = record.get("period_start"), record.get("period_end")
    granularity = None
    if not isinstance(start, dt.date) or not isinstance(end, dt.date):
        fail("period_start", _("Give period_start and period_end (YYYY-MM-DD)."))
    else:
        try:
            granularity = period_granularity(start, end)
        except PeriodError as exc:
            fail("period_end", str(exc))
    amount = record.get("total_amount")
    currency = (record.get("currency") or "").strip().upper()
    if amount is not None:
        amount = Decimal(amount)
        if amount < 0:
            fail("total_amount", _("A total cannot be negative."))
        elif amount >= _MAX_AMOUNT or amount != amount.quantize(Decimal("0.01")):
            fail("total_amount", _("At most 16 digits before the point and 2 after it."))
        currency = currency or tenant.corporate_currency
        if not CURRENCY_CODE.match(currency):
            fail("currency", _("A three-letter ISO currency code, such as JPY or USD."))
    elif currency and not CURRENCY_CODE.match(currency):
        fail("currency", _("A three-letter ISO currency code, such as JPY or USD."))
    deal_count = record.get("deal_count")
    if deal_count is not None and not 0 <= deal_count <= 2_147_483_647:
        fail("deal_count", _("A deal count is a whole number, 0 or more."))
    if amount is None and deal_count is None:
        fail("total_amount", _("Give total_amount, deal_count or both."))
    names = list(dict.fromkeys(n.strip() for n in record.get("competing_product_names") or []))
    names = [n for n in names if n]
    if len(names) > _MAX_NAMES or any(len(n) > _MAX_NAME_LENGTH for n in names):
        fail(
            "competing_product_names",
            _("At most %(n)d names of %(length)d characters each.")
            % {"n": _MAX_NAMES, "length": _MAX_NAME_LENGTH},
        )
    competing = record.get("competing_products")
    if competing is None and names:
        competing = len(names)
    if competing is not None and not 0 <= competing <= _MAX_SMALL:
        fail("competing_products", _("A count of products is a whole number, 0 or more."))
    elif competing is not None and competing < len(names):
        fail(
            "competing_products",
            _("%(count)d competing products, but %(names)d names are given.")
            % {"count": competing, "names": len(names)},
        )
    source = record.get("source") or PartnerTotal.Source.REPORTED
    if source not in PartnerTotal.Source.values:
        fail("source", _("reported or estimated."))
    note = record.get("note") or ""
    if len(errors) > before:
        return None
    return {
        "partner_id": partner.pk,
        "granularity": granularity,
        "period_start": start,
        "period_end": end,
        "total_amount": amount,
        "currency": currency if amount is not None else "",
        "deal_count": deal_count,
        "competing_products": competing,
        "competing_product_names": names,
        "source": source,
        "note": note,
    }


def _check_rates(
    *, tenant: Tenant, cleaned: list[tuple[int, dict[str, Any]]], errors: list[TotalsRowError]
) -> None:
    """A total's currency must convert on its period's last day (the rate used for its
    share). One ``convert_amount`` per distinct (currency, period end): not per record."""
    pairs = {
        (r["currency"], r["period_end"])
        for _i, r in cleaned
        if r["total_amount"] is not None and r["currency"] != tenant.corporate_currency
    }
    missing = {
        pair
        for pair in pairs
        if convert_amount(tenant=tenant, amount=Decimal(1), currency=pair[0], on_date=pair[1])
        is None
    }
    for index, record in cleaned:
        if (record["currency"], record["period_end"]) in missing:
            errors.append(
                TotalsRowError(
                    index,
                    "currency",
                    _(
                        "%(currency)s has no conversion rate on %(date)s: add its rate"
                        " (currency-rates) or give the total in %(corporate)s."
                    )
                    % {
                        "currency": record["currency"],
                        "date": record["period_end"].isoformat(),
                        "corporate": tenant.corporate_currency,
                    },
                )
            )


def _validate(
    *, tenant: Tenant, records: Sequence[tuple[int, Mapping[str, Any]]], by_line: bool = False
) -> tuple[list[tuple[int, dict[str, Any]]], list[TotalsRowError]]:
    errors: list[TotalsRowError] = []
    cleaned = []
    seen: dict[tuple, int] = {}
    for index, record in records:
        values = _clean(tenant=tenant, index=index, record=record, errors=errors)
        if values is None:
            continue
        key = (values["partner_id"], values["granularity"], values["period_start"])
        if key in seen:
            message = (
                _(
                    "This partner and period are already on line %(other)d: periods of one"
                    " granularity may not overlap."
                )
                if by_line
                else _(
                    "This partner and period are already in record %(other)d of this batch:"
                    " periods of one granularity may not overlap."
                )
            )
            errors.append(TotalsRowError(index, "period_start", message % {"other": seen[key]}))
            continue
        seen[key] = index
        cleaned.append((index, values))
    _check_rates(tenant=tenant, cleaned=cleaned, errors=errors)
    return cleaned, errors


def _write(*, tenant: Tenant, cleaned: list[tuple[int, dict[str, Any]]]) -> BulkUpsertResult:
    records = [r for _i, r in cleaned]
    with transaction.atomic():
        stored = PartnerTotal.objects.filter(
            tenant=tenant,
            partner_id__in={r["partner_id"] for r in records},
            period_start__in={r["period_start"] for r in records},
        ).select_for_update()
        by_key = {(t.partner_id, t.granularity, t.period_start): t for t in stored}
        matches = [
            by_key.get((r["partner_id"], r["granularity"], r["period_start"])) for r in records
        ]
        return bulk_upsert_rows(model=PartnerTotal, tenant=tenant, records=records, matches=matches)


def partner_totals_upsert(
    *, tenant: Tenant, records: Sequence[Mapping[str, Any]]
) -> BulkUpsertResult:
    """Create or replace partner totals, keyed by partner, granularity and period start.

    Each record: ``partner`` (a ``Partner`` of ``tenant``), ``period_start``,
    ``period_end`` (a whole calendar month or quarter), ``total_amount`` (0 or more; its
    ``currency`` defaults to the corporate one and must have a rate on the period's last
    day) and/or ``deal_count``, ``competing_products``, ``competing_product_names``,
    ``source`` (``reported`` / ``estimated``), ``note``. A record replaces the stored total
    of its partner and period entirely (a field it omits is emptied).

    Guarantees: every problem of every record is reported at once
    (``PartnerTotalsInvalid``, by index in ``records``) and then nothing is written;
    otherwise all are written in one transaction, a record equal to the stored row is
    ``unchanged``; a fixed number of statements whatever the number of records (plus one
    rate look-up per foreign currency and period).
    """
    require_scope(tenant)
    cleaned, errors = _validate(tenant=tenant, records=list(enumerate(records)))
    if errors:
        raise PartnerTotalsInvalid(errors)
    return _write(tenant=tenant, cleaned=cleaned)


def partner_totals_import_csv(*, tenant: Tenant, data: bytes) -> BulkUpsertResult:
    """A CSV file of partner totals (UTF-8 or Shift_JIS; the columns are the API's field
    names, see ``partners.totals_csv``), all or nothing.

    Guarantees: every bad line is reported with its line number (header = 1), its column
    and the reason (``PartnerTotalsInvalid``) and then nothing is written; otherwise as
    ``partner_totals_upsert``.
    """
    require_scope(tenant)
    parsed, errors = partner_total_records_from_csv(data=data)
    resolved, partner_errors = partner_totals_resolve(tenant=tenant, records=parsed)
    cleaned, rule_errors = _validate(tenant=tenant, records=resolved, by_line=True)
    errors = [*errors, *partner_errors, *rule_errors]
    if errors:
        raise PartnerTotalsInvalid(errors)
    if not cleaned:
        raise PartnerTotalsInvalid([TotalsRowError(1, "", _("The file has no rows."))])
    return _write(tenant=tenant, cleaned=cleaned)
