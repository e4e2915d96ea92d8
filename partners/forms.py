"""Forms of the partner pages: a partner's total for one period, a CSV of totals."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.utils.translation import gettext_lazy as _

from partners.models import PartnerTotal
from partners.periods import MONTH, QUARTER, period_label, period_of, period_shift
from partners.totals_csv import names_from_text

# The periods offered on the partner page: recent quarters and months (the API and the
# CSV take any calendar period).
FORM_QUARTERS = 8
FORM_MONTHS = 12


def period_choices(today: dt.date) -> list[tuple[str, str]]:
    """``quarter:2026-07-01`` → ``2026 Q3`` etc., newest first: quarters, then months."""
    out = []
    for granularity, count in ((QUARTER, FORM_QUARTERS), (MONTH, FORM_MONTHS)):
        start, _end = period_of(today, granularity)
        for back in range(count):
            first, _last = period_shift(start, granularity, -back)
            out.append((f"{granularity}:{first.isoformat()}", period_label(first, granularity)))
    return out


class PartnerTotalForm(forms.Form):
    """A partner's total for one period; the rules are the service's (errors come back on
    the fields they name)."""

    period = forms.ChoiceField(label=_("Period"))
    total_amount = forms.DecimalField(
        label=_("Total sales in our category"),
        min_value=0,
        max_digits=18,
        decimal_places=2,
        required=False,
    )
    currency = forms.CharField(
        label=_("Currency"),
        max_length=3,
        required=False,
        help_text=_("ISO code; empty: the corporate currency."),
    )
    deal_count = forms.IntegerField(label=_("Deal count"), min_value=0, required=False)
    competing_products = forms.IntegerField(
        label=_("Competing products"), min_value=0, max_value=32767, required=False
    )
    competing_product_names = forms.CharField(
        label=_("Competing product names"),
        required=False,
        max_length=2000,
        help_text=_("Separated by ;"),
    )
    source = forms.ChoiceField(
        label=_("Source"), choices=PartnerTotal.Source.choices, initial=PartnerTotal.Source.REPORTED
    )
    note = forms.CharField(
        label=_("Note"), required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args, today: dt.date, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["period"].choices = period_choices(today)

    def record(self, *, partner) -> dict:
        """The cleaned form as a record of ``partner_totals_upsert``."""
        data = self.cleaned_data
        granularity, start = data["period"].split(":")
        first, last = period_of(dt.date.fromisoformat(start), granularity)
        return {
            "partner": partner,
            "period_start": first,
            "period_end": last,
            "total_amount": data.get("total_amount"),
            "currency": data.get("currency") or "",
            "deal_count": data.get("deal_count"),
            "competing_products": data.get("competing_products"),
            "competing_product_names": names_from_text(data.get("competing_product_names", "")),
            "source": data.get("source"),
            "note": data.get("note", ""),
        }

    def add_record_errors(self, errors) -> None:
        """The service's ``TotalsRowError`` list on the fields they name."""
        for error in errors:
            field = "period" if error.field in ("period_start", "period_end") else error.field
            self.add_error(field if field in self.fields else None, error.message)


class PartnerTotalsUploadForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file"),
        help_text=_("UTF-8 or Shift_JIS. Columns: the API's field names (see the example)."),
    )
