"""Login lockout (django-axes): repeated failed logins lock the account for a while.

Settings are in pse_crm/settings/base.py ("Security"); docs/security.md explains them.
"""

from __future__ import annotations

import math

from axes.backends import AxesStandaloneBackend
from axes.conf import settings as axes_settings
from axes.helpers import get_cool_off
from django.contrib import messages
from django.contrib.auth.forms import AuthenticationForm
from django.shortcuts import render
from django.utils.translation import gettext as _


class LockoutBackend(AxesStandaloneBackend):
    """Axes' lockout check for every login made through a request.

    A login without a request (the test client's ``login()``, a shell) cannot be brute
    forced over HTTP, so it is passed on to the next backend instead of raising.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def lockout_username(request, credentials) -> str | None:
    """Emails are case-insensitive: ``Owner@X`` and ``owner@x`` count as one account."""
    if credentials is None:
        value = request.POST.get(axes_settings.AXES_USERNAME_FORM_FIELD)
    else:
        value = credentials.get(axes_settings.AXES_USERNAME_FORM_FIELD)
    return value.strip().lower() if isinstance(value, str) else value


def lockout_response(request, original_response=None, credentials=None):
    """The login page again, status 429, saying how long to wait."""
    cool_off = get_cool_off(request)
    minutes = max(1, math.ceil(cool_off.total_seconds() / 60)) if cool_off else None
    if minutes:
        message = _(
            "Too many failed logins for this account. Try again in %(minutes)d minutes."
        ) % {"minutes": minutes}
    else:
        message = _("Too many failed logins for this account. Ask an owner to unlock it.")
    messages.error(request, message)
    form = AuthenticationForm(request, initial={"username": lockout_username(request, None)})
    return render(
        request,
        "registration/login.html",
        {"form": form, "next": request.POST.get("next", ""), "locked_out": True},
        status=429,
    )
