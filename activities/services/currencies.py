"""Currencies: a tenant's conversion rates and every deal's amount in its corporate currency.

The rule is Salesforce's. A rate (``CurrencyType.ConversionRate``,
``DatedConversionRate.ConversionRate``) is the number of units of that currency per one
unit of the corporate currency, so an amount converts as amount ÷ rate. A dated rate wins
for close dates in [``StartDate``, ``NextStartDate``); else the active ``CurrencyType``
rate applies; a currency with neither stays unconverted (``amount_corporate`` is null) and
is never summed raw. Salesforce's own conversion (``convertCurrency(Amount)``, kept as
``sf_converted_amount``) wins over ours when it was sent.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import (
    Case,
    DecimalField,
    ExpressionWrapper,
    F,
    FloatField,
    OuterRef,
    Subquery,
    Value,
    When,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast, Coalesce, Round
from django.utils.translation import gettext as _

from activities.deal_inputs import CURRENCY_CODE
from activities.models import CurrencyRate, DatedCurrencyRate, Deal
from pse_crm.models import Tenant
from pse_crm.tenancy import require_scope

__all__ = [
    "CurrencyRateRecordError",
    "CurrencyRatesImportResult",
    "CurrencyRatesInvalid",
    "convert_amount",
    "corporate_amount_expression",
    "currency_rates_import",
    "deal_amounts_convert",
    "tenant_corporate_currency_set",
]

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CENT = Decimal("0.01")
# CurrencyRate.conversion_rate is numeric(24, 9): 15 digits before the point.
_MAX_RATE = Decimal("1e15")
_MIN_RATE = Decimal("0.000000001")
# The sf_id lists handed to one UPDATE (SQLite allows 32,766 parameters a statement).
_SF_ID_CHUNK = 10_000
_AMOUNT = DecimalField(max_digits=18, decimal_places=2)


def _quotient(numerator, denominator, output_field):
    """``numerator ÷ denominator`` in SQL: exact numeric on PostgreSQL; on SQLite (the
    demo) a decimal column holds whole numbers as integers, so it divides as REAL rather
    than as integers."""
    if connection.vendor == "sqlite":
        numerator = Cast(numerator, FloatField())
    return ExpressionWrapper(numerator / denominator, output_field=output_field)


def corporate_amount_expression(
    *,
    tenant: Tenant,
    amount: str = "amount",
    currency: str = "currency",
    on_date: str = "close_date",
    converted: str | None = None,
):
    """The SQL value, for each row of a query of the tenant's rows, of the field ``amount``
    in ``currency`` on ``on_date`` as the corporate currency (``converted``: a field that
    wins when not null). The one home of the rule in SQL; on SQLite it divides as REAL.

    Usable in ``annotate()`` and ``update()``; null when the amount is null or the
    currency has no rate."""
    dated = DatedCurrencyRate.objects.filter(
        tenant=tenant,
        iso_code=OuterRef(currency),
        start_date__lte=OuterRef(on_date),
        next_start_date__gt=OuterRef(on_date),
    ).values("conversion_rate")[:1]
    current = CurrencyRate.objects.filter(
        tenant=tenant, iso_code=OuterRef(currency), is_active=True
    ).values("conversion_rate")[:1]
    rate = Coalesce(Subquery(dated), Subquery(current))
    whens = []
    if converted is not None:
        whens.append(When(**{f"{converted}__isnull": False}, then=F(converted)))
    whens += [
        When(**{f"{amount}__isnull": True}, then=Value(None, output_field=_AMOUNT)),
        When(**{currency: tenant.corporate_currency}, then=F(amount)),
    ]
    return Case(
        *whens,
        # A missing rate makes the quotient null: unconverted.
        default=Round(_quotient(F(amount), rate, _AMOUNT), 2, output_field=_AMOUNT),
        output_field=_AMOUNT,
    )


def _corporate_amount_expression(tenant: Tenant):
    """A deal's ``amount_corporate``: Salesforce's converted amount, else the rule."""
    return corporate_amount_expression(tenant=tenant, converted="sf_converted_amount")


def deal_amounts_convert(*, tenant: Tenant, sf_ids: Iterable[str] | None = None) -> int:
    """Set ``amount_corporate`` of the tenant's deals ``sf_ids`` (all of them when None).

    Guarantees: one set-based UPDATE per chunk of ids, never a query per deal; the value
    is ``sf_converted_amount`` when present, else ``amount`` when the deal is in the
    corporate currency, else amount ÷ rate (the dated rate covering the close date, else
    the active rate), rounded to 2 places; null when there is no amount or no rate. Runs
    in the caller's transaction (``deal_sync`` calls it after each upsert). Returns the
    number of rows updated.
    """
    require_scope(tenant)
    value = _corporate_amount_expression(tenant)
    deals = Deal.objects.filter(tenant=tenant)
    if sf_ids is None:
        return deals.update(amount_corporate=value)
    ids = list(dict.fromkeys(sf_ids))
    if connection.vendor == "postgresql":
        # One array parameter (``= ANY``): no statement of 50,000 placeholders to parse.
        return deals.filter(sf_id__in=RawSQL("SELECT unnest(%s::varchar[])", (ids,))).update(
            amount_corporate=value
        )
    updated = 0
    for start in range(0, len(ids), _SF_ID_CHUNK):
        chunk = ids[start : start + _SF_ID_CHUNK]
        updated += deals.filter(sf_id__in=chunk).update(amount_corporate=value)
    return updated


def _rates_on(*, tenant: Tenant, currency: str, on_date: dt.date | None) -> Decimal | None:
    if on_date is not None:
        dated = (
            DatedCurrencyRate.objects.filter(
                tenant=tenant,
                iso_code=currency,
                start_date__lte=on_date,
                next_start_date__gt=on_date,
            )
            .values_list("conversion_rate", flat=True)
            .first()
        )
        if dated is not None:
            return dated
    return (
        CurrencyRate.objects.filter(tenant=tenant, iso_code=currency, is_active=True)
        .values_list("conversion_rate", flat=True)
        .first()
    )


def convert_amount(
    *, tenant: Tenant, amount: Decimal | None, currency: str, on_date: dt.date | None
) -> Decimal | None:
    """``amount`` in ``currency`` on ``on_date`` as the tenant's corporate currency.

    Guarantees: the same rule as ``deal_amounts_convert`` (dated rate covering
    ``on_date``, else the active rate; amount ÷ rate, rounded half away from zero to 2
    places); None when ``amount`` is None or the currency has no rate.
    """
    require_scope(tenant)
    if amount is None:
        return None
    amount = Decimal(amount)
    currency = (currency or "").upper()
    if currency == tenant.corporate_currency:
        return amount.quantize(_CENT, rounding=ROUND_HALF_UP)
    rate = _rates_on(tenant=tenant, currency=currency, on_date=on_date)
    if rate is None:
        return None
    return (amount / rate).quantize(_CENT, rounding=ROUND_HALF_UP)


# ---------------------------------------------------------------------------------------
# Rates import


@dataclass(frozen=True, slots=True)
class CurrencyRateRecordError:
    """One problem of one rate record: ``index`` is its place in the list or page."""

    index: int
    field: str
    message: str


class CurrencyRatesInvalid(Exception):
    """Raised with every problem found; nothing of the import was written."""

    def __init__(self, errors: Sequence[CurrencyRateRecordError], detail: str | None = None):
        self.errors = list(errors)
        self.detail = detail
        super().__init__(detail or f"{len(self.errors)} invalid currency rate field(s)")


@dataclass
class CurrencyRatesImportResult:
    currency_types: int = 0
    dated_rates: int = 0
    created: int = 0
    updated: int = 0
    deals_recomputed: int = 0
    iso_codes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _CurrencyType:
    iso_code: str
    conversion_rate: Decimal
    is_corporate: bool
    is_active: bool


@dataclass(frozen=True, slots=True)
class _DatedRate:
    iso_code: str
    conversion_rate: Decimal
    start_date: dt.date
    next_start_date: dt.date


_DATED_FIELDS = {"StartDate", "NextStartDate"}
_ABSENT = object()


def _records_of(records: Any) -> list:
    """The records of a query page (``records``) or of a bare list."""
    if isinstance(records, Mapping):
        records = records.get("records")
    if not isinstance(records, list | tuple):
        raise CurrencyRatesInvalid(
            [],
            _(
                "Expected a query page with records, or a list of CurrencyType and "
                "DatedConversionRate records."
            ),
        )
    return list(records)


def _kind(record: Mapping) -> str | None:
    """``CurrencyType`` or ``DatedConversionRate``: ``attributes.type`` when the record has
    ``attributes``, else ``StartDate``/``NextStartDate`` mean dated; None when neither."""
    if "attributes" in record:
        attributes = record["attributes"]
        kind = attributes.get("type") if isinstance(attributes, Mapping) else None
        return kind if kind in {"CurrencyType", "DatedConversionRate"} else None
    if set(record) & _DATED_FIELDS:
        return "DatedConversionRate"
    return "CurrencyType"


def _rate(value: Any) -> Decimal:
    # A JSON number, as Salesforce sends it (a string is refused, like in the schema).
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError(_("A conversion rate is a positive number."))
    try:
        rate = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValueError(_("A conversion rate is a positive number.")) from None
    if not rate.is_finite() or rate <= 0:
        raise ValueError(_("A conversion rate is a positive number."))
    if rate >= _MAX_RATE or rate < _MIN_RATE:
        raise ValueError(_("A conversion rate must be between 0.000000001 and 999999999999999."))
    return rate.quantize(Decimal("0.000000001"), rounding=ROUND_HALF_UP)


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise ValueError(_("A date is YYYY-MM-DD."))
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(_("A date is YYYY-MM-DD.")) from None


def _bool(value: Any, default: bool) -> bool:
    if value is _ABSENT:
        return default
    if isinstance(value, bool):
        return value
    raise ValueError(_("Expected true or false."))


def _parse(records: list) -> tuple[list[tuple[int, _CurrencyType]], list[tuple[int, _DatedRate]]]:
    errors: list[CurrencyRateRecordError] = []
    types: list[tuple[int, _CurrencyType]] = []
    dated: list[tuple[int, _DatedRate]] = []
    for index, record in enumerate(records):
        if not isinstance(record, Mapping):
            errors.append(CurrencyRateRecordError(index, "", _("A record is a JSON object.")))
            continue
        kind = _kind(record)
        if kind is None:
            errors.append(
                CurrencyRateRecordError(
                    index,
                    "attributes.type",
                    _("Neither a CurrencyType nor a DatedConversionRate record."),
                )
            )
            continue
        found: dict[str, Any] = {}
        iso = record.get("IsoCode")
        if isinstance(iso, str) and CURRENCY_CODE.fullmatch(iso):
            found["iso_code"] = iso
        else:
            errors.append(
                CurrencyRateRecordError(
                    index,
                    "IsoCode",
                    _("A currency is a three-letter ISO code in capitals (USD, EUR)."),
                )
            )
        try:
            found["conversion_rate"] = _rate(record.get("ConversionRate"))
        except ValueError as exc:
            errors.append(CurrencyRateRecordError(index, "ConversionRate", str(exc)))
        if kind == "CurrencyType":
            for name in sorted(_DATED_FIELDS & set(record)):
                errors.append(
                    CurrencyRateRecordError(
                        index,
                        name,
                        _(
                            "A CurrencyType record has no %(field)s: send a dated rate as a "
                            "DatedConversionRate record."
                        )
                        % {"field": name},
                    )
                )
            for name, key, default in (
                ("IsCorporate", "is_corporate", False),
                ("IsActive", "is_active", True),
            ):
                try:
                    found[key] = _bool(record.get(name, _ABSENT), default)
                except ValueError as exc:
                    errors.append(CurrencyRateRecordError(index, name, str(exc)))
            if len(found) == 4:
                types.append((index, _CurrencyType(**found)))
        else:
            for name, key in (("StartDate", "start_date"), ("NextStartDate", "next_start_date")):
                try:
                    found[key] = _date(record.get(name))
                except ValueError as exc:
                    errors.append(CurrencyRateRecordError(index, name, str(exc)))
            if "start_date" in found and "next_start_date" in found:
                if found["next_start_date"] <= found["start_date"]:
                    errors.append(
                        CurrencyRateRecordError(
                            index,
                            "NextStartDate",
                            _("NextStartDate must be after StartDate."),
                        )
                    )
                elif len(found) == 4:
                    dated.append((index, _DatedRate(**found)))
    if errors:
        raise CurrencyRatesInvalid(errors)
    return types, dated


def _check_batch(
    *, tenant: Tenant, types: list[tuple[int, _CurrencyType]], dated: list[tuple[int, _DatedRate]]
) -> None:
    corporate = tenant.corporate_currency
    errors: list[CurrencyRateRecordError] = []
    seen: dict[str, int] = {}
    for index, rate in types:
        if rate.iso_code in seen:
            errors.append(
                CurrencyRateRecordError(
                    index,
                    "IsoCode",
                    _("The same currency is in record %(other)d of this import.")
                    % {"other": seen[rate.iso_code]},
                )
            )
        seen.setdefault(rate.iso_code, index)
        if rate.is_corporate and rate.iso_code != corporate:
            errors.append(
                CurrencyRateRecordError(
                    index,
                    "IsCorporate",
                    _(
                        "%(code)s is marked corporate, but this tenant's corporate currency "
                        "is %(corporate)s. Change the corporate currency in the settings "
                        "first, or send this record with IsCorporate false."
                    )
                    % {"code": rate.iso_code, "corporate": corporate},
                )
            )
        if rate.iso_code == corporate and rate.conversion_rate != 1:
            errors.append(
                CurrencyRateRecordError(
                    index,
                    "ConversionRate",
                    _(
                        "%(code)s is this tenant's corporate currency: its rate is 1. "
                        "If the org's corporate currency is another one, change the "
                        "corporate currency in the settings first."
                    )
                    % {"code": rate.iso_code},
                )
            )
    seen_dated: dict[tuple[str, dt.date], int] = {}
    for index, rate in dated:
        key = (rate.iso_code, rate.start_date)
        if key in seen_dated:
            errors.append(
                CurrencyRateRecordError(
                    index,
                    "StartDate",
                    _("The same currency and start date are in record %(other)d of this import.")
                    % {"other": seen_dated[key]},
                )
            )
        seen_dated.setdefault(key, index)
        if rate.iso_code == corporate and rate.conversion_rate != 1:
            errors.append(
                CurrencyRateRecordError(
                    index,
                    "ConversionRate",
                    _("%(code)s is this tenant's corporate currency: its rate is 1.")
                    % {"code": rate.iso_code},
                )
            )
    if errors:
        raise CurrencyRatesInvalid(sorted(errors, key=lambda e: e.index))


def currency_rates_import(*, tenant: Tenant, records: Any) -> CurrencyRatesImportResult:
    """Upsert ``CurrencyType`` and ``DatedConversionRate`` records, then reconvert deals.

    ``records`` is a query page (``{"records": [...]}``) or a list; each record is told
    apart by ``attributes.type``, else by its fields (``StartDate`` means dated).

    Guarantees: all or nothing. Every bad record is reported (``CurrencyRatesInvalid``,
    one entry per bad field with its index: a rate <= 0, a bad ISO code, ``NextStartDate``
    not after ``StartDate``, a corporate currency other than the tenant's, a duplicate)
    and then nothing is written. A currency type is keyed by ISO code, a dated rate by ISO
    code and start date. Afterwards the ``amount_corporate`` of every deal in an imported
    currency is recomputed, in the same transaction.
    """
    require_scope(tenant)
    rows = _records_of(records)
    types, dated = _parse(rows)
    _check_batch(tenant=tenant, types=types, dated=dated)
    result = CurrencyRatesImportResult(currency_types=len(types), dated_rates=len(dated))
    codes = sorted({r.iso_code for _i, r in types} | {r.iso_code for _i, r in dated})
    result.iso_codes = codes
    if not codes:
        return result
    with transaction.atomic():
        result.updated = _rates_upsert(
            tenant=tenant, model=CurrencyRate, rows=[r for _i, r in types], key=("iso_code",)
        ) + _rates_upsert(
            tenant=tenant,
            model=DatedCurrencyRate,
            rows=[r for _i, r in dated],
            key=("iso_code", "start_date"),
        )
        result.created = len(types) + len(dated) - result.updated
        result.deals_recomputed = Deal.objects.filter(tenant=tenant, currency__in=codes).update(
            amount_corporate=_corporate_amount_expression(tenant)
        )
    return result


def _rates_upsert(
    *,
    tenant: Tenant,
    model: type[CurrencyRate] | type[DatedCurrencyRate],
    rows: Sequence[_CurrencyType] | Sequence[_DatedRate],
    key: tuple[str, ...],
) -> int:
    """Upsert ``rows`` (their fields are the model's) keyed by the tenant and ``key``, in
    one statement; returns how many of them were stored already."""
    if not rows:
        return 0
    stored = set(
        model.objects.filter(tenant=tenant, iso_code__in=[r.iso_code for r in rows]).values_list(
            *key
        )
    )
    values = [asdict(r) for r in rows]
    model.objects.bulk_create(
        [model(tenant=tenant, **v) for v in values],
        update_conflicts=True,
        unique_fields=["tenant", *key],
        update_fields=[*(name for name in values[0] if name not in key), "updated_at"],
    )
    return sum(1 for v in values if tuple(v[k] for k in key) in stored)


def tenant_corporate_currency_set(*, tenant: Tenant, currency: str) -> Tenant:
    """Make ``currency`` the tenant's corporate currency and reconvert every deal.

    Guarantees: a three-letter ISO code, else a ValidationError and nothing changed. The
    stored rates are rebased the way Salesforce does it when an org changes its corporate
    currency: every ``CurrencyRate`` is divided by the new corporate currency's rate (which
    becomes 1, and the old corporate currency gets 1 ÷ that rate); a dated rate is divided
    by the new corporate currency's rate covering its start date (dated, else current),
    and the new corporate currency's dated rates become the old one's (1 ÷ rate).
    Salesforce's converted amounts (in the old currency) are dropped until the sync sends
    them again. When rates are stored but none for the new currency, nothing can be
    rebased: a ValidationError says to import that currency's rate first. The tenant row,
    the rates and every deal's ``amount_corporate`` change in one transaction, under a lock
    of the tenant row.
    """
    require_scope(tenant)
    code = (currency or "").strip().upper()
    if not CURRENCY_CODE.fullmatch(code):
        raise ValidationError(
            {"corporate_currency": _("A currency is a three-letter ISO code (USD, EUR).")}
        )
    if code == tenant.corporate_currency:
        return tenant
    with transaction.atomic():
        # Lock the tenant row and read its corporate currency under the lock: of two owners
        # changing it at once, the second rebases from what the first stored. No key
        # changes, so the lock leaves the foreign-key checks of rows naming the tenant
        # free: a deal sync committing meanwhile, which holds the tenant's deal lock
        # (activities migration 0014) that the deals' update below waits for, must not
        # wait on this row.
        old = (
            Tenant.objects.select_for_update(no_key=True)
            .values_list("corporate_currency", flat=True)
            .get(pk=tenant.pk)
        )
        if code == old:
            tenant.corporate_currency = code
            return tenant
        rates = CurrencyRate.objects.filter(tenant=tenant)
        dated = DatedCurrencyRate.objects.filter(tenant=tenant)
        new_rate = rates.filter(iso_code=code).values_list("conversion_rate", flat=True).first()
        if new_rate is None and (rates.exclude(iso_code=old).exists() or dated.exists()):
            raise ValidationError(
                {
                    "corporate_currency": _(
                        "No conversion rate for %(code)s is stored, so the other rates "
                        "cannot be restated against it. Import %(code)s's CurrencyType rate "
                        "first (POST /api/v1/currency-rates/), then change the corporate "
                        "currency."
                    )
                    % {"code": code}
                }
            )
        if new_rate is not None:
            _rates_rebase(tenant=tenant, old=old, new=code, new_rate=new_rate)
        # Salesforce's converted amounts are in the old corporate currency: dropped, so
        # the stored rates convert those deals until the sync sends them again.
        Deal.objects.filter(tenant=tenant, sf_converted_amount__isnull=False).update(
            sf_converted_amount=None
        )
        tenant.corporate_currency = code
        tenant.save(update_fields=["corporate_currency"])  # a normal save: audited
        deal_amounts_convert(tenant=tenant)
    return tenant


def _rates_rebase(*, tenant: Tenant, old: str, new: str, new_rate: Decimal) -> None:
    """Restate the tenant's rates against ``new`` (set-based; inside the caller's atomic)."""
    rates = CurrencyRate.objects.filter(tenant=tenant)
    dated = DatedCurrencyRate.objects.filter(tenant=tenant)
    covering = DatedCurrencyRate.objects.filter(
        tenant=tenant,
        iso_code=new,
        start_date__lte=OuterRef("start_date"),
        next_start_date__gt=OuterRef("start_date"),
    ).values("conversion_rate")[:1]
    rate_field = DecimalField(max_digits=24, decimal_places=9)
    # The old corporate currency's own dated rows can only say 1: the new base replaces them.
    dated.filter(iso_code=old).delete()
    dated.exclude(iso_code=new).update(
        conversion_rate=_quotient(
            F("conversion_rate"),
            Coalesce(Subquery(covering), Value(new_rate, output_field=rate_field)),
            rate_field,
        )
    )
    dated.filter(iso_code=new).update(
        iso_code=old,
        conversion_rate=_quotient(
            Value(Decimal(1), output_field=rate_field), F("conversion_rate"), rate_field
        ),
    )
    if not rates.filter(iso_code=old).exists():
        CurrencyRate.objects.create(
            tenant=tenant, iso_code=old, conversion_rate=Decimal(1), is_corporate=True
        )
    rates.update(
        conversion_rate=_quotient(
            F("conversion_rate"), Value(new_rate, output_field=rate_field), rate_field
        )
    )
    rates.filter(iso_code=new).update(conversion_rate=Decimal(1), is_corporate=True, is_active=True)
    rates.exclude(iso_code=new).update(is_corporate=False)
