"""Forms of the core pages: members, invitations and roles, API keys."""

from __future__ import annotations

from django import forms
from django.contrib.auth import password_validation
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
    """Invite a person to the active tenant by email, with a role (``invitation_create``
    checks the rules). No password: the invitee chooses their own."""

    email = forms.EmailField(label=_("Email"))
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.STAFF)


class InvitationPasswordForm(forms.Form):
    """The password of a new account, chosen by the invitee (Django's password validators)."""

    password1 = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label=_("Password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args, email: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.email = email

    def clean(self):
        cleaned = super().clean()
        first, second = cleaned.get("password1"), cleaned.get("password2")
        if first and second and first != second:
            self.add_error("password2", _("The two passwords differ."))
        elif first:
            try:
                password_validation.validate_password(first, user=User(email=self.email))
            except ValidationError as error:
                self.add_error("password1", error)
        return cleaned


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)
    is_active = forms.BooleanField(label=_("Active"), required=False)


class APIKeyCreateForm(ServiceErrorsMixin, forms.Form):
    """A key's name and scopes; ``api_key_create`` checks them."""

    name = forms.CharField(
        label=_("Name"),
        max_length=50,
        help_text=_("Say which integration uses it, e.g. “Salesforce sync”."),
    )
    scopes = forms.MultipleChoiceField(
        label=_("Scopes"),
        choices=roles.KeyScope.choices,
        initial=[roles.KeyScope.WRITE],
        widget=forms.CheckboxSelectMultiple,
        help_text=_("The key does nothing its scopes do not allow."),
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
