"""Forms of the method's pages. Related choices are tenant-scoped querysets (evaluated in
the request's scope), so another tenant's id fails as "not a valid choice". The services
validate again and their ValidationErrors land next to the field they name."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from enablement.models import Hearing, KnowHow, SegmentationSettings, SupportTask
from partners.models import Partner
from pse_crm import roles
from pse_crm.models import User
from reps.models import Rep


class DateInput(forms.DateInput):
    input_type = "date"


def task_assignees(tenant):
    """Members who can work support tasks: active staff, managers and owners."""
    return User.objects.filter(
        memberships__tenant=tenant,
        memberships__is_active=True,
        memberships__role__in=roles.WRITE_ENABLEMENT,
    ).order_by("email")


class ServiceErrorsMixin:
    """Attach a service's ValidationError to the named fields (else to the form)."""

    def add_service_errors(self, error: ValidationError) -> None:
        if hasattr(error, "error_dict"):
            for field, errors in error.message_dict.items():
                self.add_error(field if field in self.fields else None, errors)
        else:
            self.add_error(None, error.messages)


class UserChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return obj.get_full_name() or obj.email


class SupportTaskForm(ServiceErrorsMixin, forms.Form):
    rep = forms.ModelChoiceField(queryset=Rep.objects.none(), widget=forms.HiddenInput)
    kind = forms.ChoiceField(label=_("Kind"), choices=SupportTask.Kind.choices)
    title = forms.CharField(label=_("Title"), max_length=200, required=False)
    assignee = UserChoiceField(label=_("Assignee"), queryset=User.objects.none())
    due_on = forms.DateField(label=_("Due date"), widget=DateInput)
    description = forms.CharField(label=_("Description"), widget=forms.Textarea, required=False)

    def __init__(self, *args, tenant, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["rep"].queryset = Rep.objects.filter(is_employed=True)
        self.fields["assignee"].queryset = task_assignees(tenant)


class SuggestionTasksForm(ServiceErrorsMixin, forms.Form):
    """One task per chosen suggested rep, all of the same kind, assignee and due date."""

    reps = forms.ModelMultipleChoiceField(
        label=_("Reps"), queryset=Rep.objects.none(), widget=forms.CheckboxSelectMultiple
    )
    kind = forms.ChoiceField(label=_("Kind"), choices=SupportTask.Kind.choices)
    assignee = UserChoiceField(label=_("Assignee"), queryset=User.objects.none())
    due_on = forms.DateField(label=_("Due date"), widget=DateInput)

    def __init__(self, *args, tenant, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reps"].queryset = Rep.objects.filter(is_employed=True)
        self.fields["assignee"].queryset = task_assignees(tenant)


class AssignForm(ServiceErrorsMixin, forms.Form):
    assignee = UserChoiceField(label=_("Assignee"), queryset=User.objects.none())

    def __init__(self, *args, tenant, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = task_assignees(tenant)


class TransitionForm(ServiceErrorsMixin, forms.Form):
    to_status = forms.ChoiceField(choices=SupportTask.Status.choices)
    outcome_notes = forms.CharField(label=_("Outcome notes"), widget=forms.Textarea, required=False)


class CommentForm(ServiceErrorsMixin, forms.Form):
    body = forms.CharField(label=_("Comment"), widget=forms.Textarea(attrs={"rows": 3}))


def _labels(value: str) -> list[str]:
    return [part.strip() for part in (value or "").replace("、", ",").split(",") if part.strip()]


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
        return _labels(self.cleaned_data.get("tags", ""))


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
        return _labels(self.cleaned_data.get("tags", ""))

    def clean_products(self) -> list[str]:
        return _labels(self.cleaned_data.get("products", ""))


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

    def __init__(self, *args, **kwargs):
        from enablement.models import Quadrant, Tier
        from enablement.selectors.segmentation import UNTIERED

        super().__init__(*args, **kwargs)
        self.fields["quadrant"].choices = [("", _("All quadrants")), *Quadrant.choices]
        self.fields["tier"].choices = [
            ("", _("All tiers")),
            *Tier.choices,
            (UNTIERED, _("Not tiered")),
        ]
        self.fields["partner"].queryset = Partner.objects.order_by("name")
        self.fields["partner"].empty_label = _("All partners")


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
