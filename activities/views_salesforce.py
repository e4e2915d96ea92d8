"""The owners' Salesforce connection page: connect an org, its status, "Pull now", remove."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from activities.selectors import salesforce_status
from activities.services.salesforce import (
    SalesforceNotConnected,
    salesforce_connect,
    salesforce_disconnect,
    salesforce_pull_queue,
)
from activities.services.salesforce_client import SalesforceAuthError, SalesforceError
from pse_crm import roles
from pse_crm.forms import ServiceErrorsMixin
from pse_crm.permissions import capability_required


class SalesforceConnectForm(ServiceErrorsMixin, forms.Form):
    instance_url = forms.CharField(
        label=gettext_lazy("Instance URL"),
        max_length=255,
        help_text=gettext_lazy("Your org's My Domain URL, e.g. https://example.my.salesforce.com."),
    )
    client_id = forms.CharField(
        label=gettext_lazy("Consumer key (client id)"),
        max_length=255,
        help_text=gettext_lazy(
            "Of the External Client App (or Connected App) with the client credentials flow."
        ),
    )
    client_secret = forms.CharField(
        label=gettext_lazy("Consumer secret (client secret)"),
        max_length=1000,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=gettext_lazy(
            "Stored encrypted and never shown again. Enter it again to rotate it."
        ),
    )
    api_version = forms.CharField(label=gettext_lazy("API version"), max_length=8, initial="62.0")


@capability_required(roles.OWN)
def settings_salesforce_connection(request: HttpRequest) -> HttpResponse:
    """The connection's status and the form that connects (or reconnects) an org."""
    status = salesforce_status(tenant=request.tenant)
    conn = status.connection
    initial = (
        {
            "instance_url": conn.instance_url,
            "client_id": conn.client_id,
            "api_version": conn.api_version,
        }
        if conn is not None
        else {}
    )
    form = SalesforceConnectForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            conn = salesforce_connect(tenant=request.tenant, user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_service_errors(exc)
        except SalesforceAuthError as exc:
            form.add_error(
                None, _("Salesforce refused the credentials: %(detail)s") % {"detail": exc.message}
            )
        except SalesforceError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request,
                _("Connected to Salesforce org %(org)s. The next pull reads it within 15 minutes.")
                % {"org": conn.org_id or conn.instance_url},
            )
            return redirect("settings-salesforce-connection")
    return render(
        request,
        "activities/salesforce_connection.html",
        {"form": form, "status": status, "tab": "salesforce-connection"},
    )


@require_POST
@capability_required(roles.OWN)
def settings_salesforce_pull(request: HttpRequest) -> HttpResponse:
    """ "Pull now": queue a pull of the tenant's org."""
    try:
        salesforce_pull_queue(tenant=request.tenant, full=request.POST.get("full") == "1")
    except SalesforceNotConnected as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Pull queued. Its progress shows below; reload to follow it."))
    return redirect("settings-salesforce-connection")


@require_POST
@capability_required(roles.OWN)
def settings_salesforce_disconnect(request: HttpRequest) -> HttpResponse:
    """Remove the connection and its stored secret (deals and run history stay)."""
    if salesforce_disconnect(tenant=request.tenant):
        messages.success(request, _("Salesforce connection removed, and its secret deleted."))
    return redirect("settings-salesforce-connection")
