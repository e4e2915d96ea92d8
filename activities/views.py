"""Pages of the activities app: the owners' Salesforce field mapping (settings)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from activities.forms import SyncSettingsForm
from activities.selectors import sync_settings_get
from pse_crm import roles
from pse_crm.permissions import capability_required


@capability_required(roles.OWN)
def settings_salesforce(request: HttpRequest) -> HttpResponse:
    """Which Opportunity fields name the partner and the rep. One row per tenant; the
    defaults apply until an owner saves."""
    instance = sync_settings_get(tenant=request.tenant)
    form = SyncSettingsForm(request.POST or None, instance=instance)
    if request.method == "POST" and form.is_valid():
        form.instance.tenant = request.tenant
        form.save()
        messages.success(request, _("Salesforce field mapping saved. The next sync uses it."))
        return redirect("settings-salesforce")
    return render(
        request, "activities/salesforce_settings.html", {"form": form, "tab": "salesforce"}
    )
