"""Forms of the segmentation pages: the settings and the keymen filters."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from partners.models import Partner
from pse_crm.templatetags.pse_ui import pct
from segmentation.models import SegmentationSettings


class SegmentationSettingsForm(forms.ModelForm):
    class Meta:
        model = SegmentationSettings
        fields = SegmentationSettings.EDITABLE_FIELDS


class KeymenFilterForm(forms.Form):
    """The keymen list's filters (GET). Invalid values are ignored, never an error page."""

    MOVERS = "1"

    q = forms.CharField(label=_("Rep"), required=False)
    quadrant = forms.ChoiceField(label=_("Quadrant"), required=False)
    tier = forms.ChoiceField(label=_("Tier"), required=False)
    partner = forms.ModelChoiceField(
        label=_("Partner"), queryset=Partner.objects.none(), required=False
    )
    movers = forms.BooleanField(label=_("Moved since the last run"), required=False)

    def __init__(self, *args, tier_counts: dict | None = None, **kwargs):
        from segmentation.models import Quadrant, Tier
        from segmentation.selectors import UNTIERED

        super().__init__(*args, **kwargs)
        self.fields["quadrant"].choices = [("", _("All quadrants")), *Quadrant.choices]
        # Each tier with its actual share of the tiered reps: ties share a tier, so the
        # middle need not hold 60%.
        counts = tier_counts or {}
        tiered = sum(counts.get(t, 0) for t in Tier.values)
        self.fields["tier"].choices = [
            ("", _("All tiers")),
            *(
                (value, f"{label} · {pct(counts.get(value, 0) / tiered, 0)}" if tiered else label)
                for value, label in Tier.choices
            ),
            (UNTIERED, _("Not tiered")),
        ]
        self.fields["partner"].queryset = Partner.objects.order_by("name")
        self.fields["partner"].empty_label = _("All partners")
