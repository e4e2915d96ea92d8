"""Share of wallet on the pages: a partner's totals (entered by managers and owners) and
the CSV import of totals. The partner page, the partner list and the dashboard read
``web.share_of_wallet`` themselves."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from partners.forms import PartnerTotalForm, PartnerTotalsUploadForm
from partners.models import Partner, PartnerTotal
from pse_crm import roles
from pse_crm.calendar import tenant_today
from pse_crm.permissions import capability_required
from web.services.partner_totals import (
    PartnerTotalsInvalid,
    partner_totals_import_csv,
    partner_totals_upsert,
)

# A CSV of totals is small (a row per partner and period): refuse anything larger unread.
MAX_UPLOAD_BYTES = 5 * 1024 * 1024


def _initial(partner: Partner, period: str | None) -> dict:
    """The stored total of ``period`` (``quarter:2026-07-01``) as the form's initial data."""
    if not period or ":" not in period:
        return {}
    granularity, start = period.split(":", 1)
    try:
        start = dt.date.fromisoformat(start)
    except ValueError:
        return {}
    total = PartnerTotal.objects.filter(
        partner=partner, granularity=granularity, period_start=start
    ).first()
    if total is None:
        return {"period": period}
    return {
        "period": period,
        "total_amount": total.total_amount,
        "currency": total.currency,
        "deal_count": total.deal_count,
        "competing_products": total.competing_products,
        "competing_product_names": "; ".join(total.competing_product_names),
        "source": total.source,
        "note": total.note,
    }


@capability_required(roles.MANAGE)
def partner_total_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Enter or replace one period's total of a partner (``partner_totals_upsert``)."""
    partner = get_object_or_404(Partner, pk=pk)
    today = tenant_today(request.tenant)
    if request.method == "POST":
        form = PartnerTotalForm(request.POST, today=today)
        if form.is_valid():
            try:
                partner_totals_upsert(tenant=request.tenant, records=[form.record(partner=partner)])
            except PartnerTotalsInvalid as exc:
                form.add_record_errors(exc.errors)
            else:
                messages.success(request, _("The partner's total is saved."))
                return redirect(reverse("partner-detail", args=[partner.pk]) + "#share-of-wallet")
    else:
        form = PartnerTotalForm(initial=_initial(partner, request.GET.get("period")), today=today)
    return render(
        request,
        "web/partner_total_form.html",
        {"partner": partner, "form": form, "corporate": request.tenant.corporate_currency},
    )


@capability_required(roles.MANAGE)
def partner_totals_import(request: HttpRequest) -> HttpResponse:
    """Upload a CSV of partner totals: all or nothing, every bad line listed."""
    errors = []
    form = PartnerTotalsUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            form.add_error(
                "file", _("The file is larger than %(n)d MB.") % {"n": MAX_UPLOAD_BYTES >> 20}
            )
        else:
            try:
                result = partner_totals_import_csv(tenant=request.tenant, data=upload.read())
            except PartnerTotalsInvalid as exc:
                errors = exc.errors
            else:
                messages.success(
                    request,
                    _("Imported: %(created)d new, %(updated)d replaced, %(unchanged)d unchanged.")
                    % {
                        "created": result.created,
                        "updated": result.updated,
                        "unchanged": result.unchanged,
                    },
                )
                return redirect("partner-totals-import")
    return render(
        request,
        "web/partner_totals_import.html",
        {"form": form, "errors": errors, "corporate": request.tenant.corporate_currency},
    )
