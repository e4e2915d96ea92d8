"""The owners' settings page for the corporate currency, with the stored rates."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from activities.selectors import currency_rates_get, deals_unconverted
from activities.services.currencies import tenant_corporate_currency_set
from pse_crm import roles
from pse_crm.forms import ServiceErrorsMixin
from pse_crm.permissions import capability_required


class CorporateCurrencyForm(ServiceErrorsMixin, forms.Form):
    corporate_currency = forms.CharField(
        label=gettext_lazy("Corporate currency"),
        min_length=3,
        max_length=3,
        help_text=gettext_lazy(
            "A three-letter ISO code (JPY, USD, EUR). Every amount summed anywhere is "
            "converted to it; changing it restates the stored rates and reconverts every deal."
        ),
    )

    def clean_corporate_currency(self) -> str:
        return self.cleaned_data["corporate_currency"].strip().upper()


@capability_required(roles.OWN)
def settings_currency(request: HttpRequest) -> HttpResponse:
    """Show the corporate currency and the rates; an owner changes the corporate currency
    (``tenant_corporate_currency_set``: the rates restated, every deal reconverted)."""
    tenant = request.tenant
    form = CorporateCurrencyForm(
        request.POST or None, initial={"corporate_currency": tenant.corporate_currency}
    )
    if request.method == "POST" and form.is_valid():
        before = tenant.corporate_currency
        try:
            tenant_corporate_currency_set(
                tenant=tenant, currency=form.cleaned_data["corporate_currency"]
            )
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            if tenant.corporate_currency == before:
                messages.info(request, _("The corporate currency is unchanged."))
            else:
                messages.success(
                    request,
                    _(
                        "The corporate currency is now %(code)s: the rates are restated "
                        "against it and every deal is reconverted."
                    )
                    % {"code": tenant.corporate_currency},
                )
            return redirect("settings-currency")
    rates, dated = currency_rates_get(tenant=tenant)
    context = {
        "form": form,
        "rates": rates,
        "dated": dated,
        "unconverted": deals_unconverted(tenant=tenant),
        "tab": "currency",
    }
    return render(request, "activities/currency_settings.html", context)
