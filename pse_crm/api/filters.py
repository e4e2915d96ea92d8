"""Filters shared by the viewsets: strict booleans and tenant-scoped related ids (another
tenant's id matches nothing, like a missing one)."""

from __future__ import annotations

import django_filters
from django import forms
from django.utils.translation import gettext
from rest_framework import exceptions


class _StrictBooleanField(forms.Field):
    def to_python(self, value):
        if value in (None, ""):
            return None
        lowered = str(value).strip().lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
        raise forms.ValidationError(gettext("Expected true or false."), code="invalid")


class StrictBooleanFilter(django_filters.BooleanFilter):
    """``true``/``false`` (or 1/0); anything else is a 400, never silently ignored."""

    field_class = _StrictBooleanField


class TenantRelatedIdFilter(django_filters.NumberFilter):
    """A filter on a related id: an id unknown in the tenant (or another tenant's) is a 404."""

    field_class = forms.IntegerField

    def __init__(self, *args, model=None, **kwargs):
        # Not ``self.model``: django-filter sets that to the filtered model.
        self.related_model = model
        super().__init__(*args, **kwargs)

    def filter(self, qs, value):
        if value is None:
            return qs
        if not self.related_model.objects.filter(pk=value).exists():
            raise exceptions.NotFound(
                gettext("%(field)s %(id)s was not found.") % {"field": self.field_name, "id": value}
            )
        return qs.filter(**{f"{self.field_name}_id": value})
