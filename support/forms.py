"""Forms of the support-task pages."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from pse_crm.forms import DateInput, ServiceErrorsMixin, UserChoiceField, task_assignees
from pse_crm.models import User
from reps.models import Rep
from support.models import SupportTask


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
