"""Forms of the hearing and know-how pages."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from knowhow.models import Hearing, KnowHow
from partners.models import Partner
from pse_crm.forms import DateInput, ServiceErrorsMixin, labels_from_text
from reps.models import Rep


class HearingForm(ServiceErrorsMixin, forms.Form):
    rep = forms.ModelChoiceField(queryset=Rep.objects.none(), widget=forms.HiddenInput)
    held_on = forms.DateField(label=_("Date"), widget=DateInput)
    finding_customers = forms.CharField(
        label=Hearing._meta.get_field("finding_customers").verbose_name,
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
    )
    sales_approach = forms.CharField(
        label=_("Sales approach"), widget=forms.Textarea(attrs={"rows": 3}), required=False
    )
    materials_used = forms.CharField(
        label=_("Materials used"), widget=forms.Textarea(attrs={"rows": 2}), required=False
    )
    objections = forms.CharField(
        label=_("Objections and answers"), widget=forms.Textarea(attrs={"rows": 2}), required=False
    )
    notes = forms.CharField(
        label=_("Notes"), widget=forms.Textarea(attrs={"rows": 2}), required=False
    )
    tags = forms.CharField(
        label=_("Tags"), required=False, help_text=_("Separate tags with commas.")
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["rep"].queryset = Rep.objects.all()

    def clean_tags(self) -> list[str]:
        return labels_from_text(self.cleaned_data.get("tags", ""))


class KnowHowForm(ServiceErrorsMixin, forms.Form):
    title = forms.CharField(label=_("Title"), max_length=200)
    body = forms.CharField(label=_("Body"), widget=forms.Textarea(attrs={"rows": 8}))
    hearings = forms.ModelMultipleChoiceField(
        label=_("Source hearings"),
        queryset=Hearing.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    tags = forms.CharField(
        label=_("Tags"), required=False, help_text=_("Separate tags with commas.")
    )
    products = forms.CharField(
        label=_("Products"), required=False, help_text=_("Separate products with commas.")
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The latest hearings are the candidates; older ones stay linked where they are.
        recent = list(
            Hearing.objects.select_related("rep")
            .order_by("-held_on", "-pk")
            .values_list("pk", flat=True)[:100]
        )
        self.fields["hearings"].queryset = Hearing.objects.filter(pk__in=recent).select_related(
            "rep"
        )

    def clean_tags(self) -> list[str]:
        return labels_from_text(self.cleaned_data.get("tags", ""))

    def clean_products(self) -> list[str]:
        return labels_from_text(self.cleaned_data.get("products", ""))


class ShareForm(ServiceErrorsMixin, forms.Form):
    partner = forms.ModelChoiceField(
        label=_("Partner"), queryset=Partner.objects.none(), required=False
    )
    rep_email = forms.EmailField(
        label=_("Or one rep (email)"),
        required=False,
        help_text=_("Leave empty to share with every rep of the partner."),
    )
    shared_on = forms.DateField(label=_("Shared on"), widget=DateInput, required=False)
    notes = forms.CharField(
        label=_("Notes"), widget=forms.Textarea(attrs={"rows": 2}), required=False
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["partner"].queryset = Partner.objects.order_by("name")

    def clean(self):
        data = super().clean()
        email = (data.get("rep_email") or "").strip().lower()
        data["rep"] = None
        if email:
            data["rep"] = Rep.objects.filter(email=email).select_related("partner").first()
            if data["rep"] is None:
                self.add_error("rep_email", _("No rep of this tenant has this email."))
        elif not data.get("partner"):
            self.add_error("partner", _("Share with a partner or a rep."))
        return data


class KnowHowEditForm(KnowHowForm):
    """Editing keeps the same fields as writing."""

    def __init__(self, *args, instance: KnowHow | None = None, **kwargs):
        if instance is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "title": instance.title,
                "body": instance.body,
                "hearings": list(instance.sources.values_list("hearing_id", flat=True)),
                "tags": ", ".join(instance.tags or []),
                "products": ", ".join(instance.products or []),
            }
        super().__init__(*args, **kwargs)
