"""Forms of the activities pages: the owners' Salesforce field mapping."""

from __future__ import annotations

from django import forms

from activities.models import SyncSettings


class SyncSettingsForm(forms.ModelForm):
    class Meta:
        model = SyncSettings
        fields = ["partner_field", "rep_field", "rep_match"]
