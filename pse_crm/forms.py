"""Forms of the core settings pages: members and roles, API keys."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from pse_crm import roles
from pse_crm.models import User
from pse_crm.roles import Role


class ServiceErrorsMixin:
    """Attach a service's ValidationError to the named fields (else to the form)."""

    def add_service_errors(self, error: ValidationError) -> None:
        if hasattr(error, "error_dict"):
            for field, errors in error.message_dict.items():
                self.add_error(field if field in self.fields else None, errors)
        else:
            self.add_error(None, error.messages)


class MemberAddForm(ServiceErrorsMixin, forms.Form):
    """Add a person to the active tenant by email, with a role (``membership_add`` checks
    the rules)."""

    email = forms.EmailField(label=_("Email"))
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.STAFF)
    # Always asked for, so the answer never tells whether the email has an account
    # somewhere (in another tenant, say); an existing account keeps its own password.
    password = forms.CharField(
        label=_("Initial password"),
        widget=forms.PasswordInput(render_value=False),
        help_text=_("Only for a new account. An existing account keeps its password."),
        error_messages={"required": _("A new account needs an initial password.")},
    )


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)
    is_active = forms.BooleanField(label=_("Active"), required=False)


class APIKeyCreateForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=50,
        help_text=_("Say which integration uses it, e.g. “Salesforce sync”."),
    )


class DateInput(forms.DateInput):
    input_type = "date"


def task_assignees(tenant):
    """Members who can work support tasks: active staff, managers and owners."""
    return User.objects.filter(
        memberships__tenant=tenant,
        memberships__is_active=True,
        memberships__role__in=roles.WRITE_ENABLEMENT,
    ).order_by("email")


class UserChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return obj.get_full_name() or obj.email


def labels_from_text(value: str) -> list[str]:
    return [part.strip() for part in (value or "").replace("、", ",").split(",") if part.strip()]
