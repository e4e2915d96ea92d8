"""Deal-signal pages: the inbox, one signal, its actions, the rules and my notifications."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from activities.models import Material, MaterialView
from deal_signals.models import DealSignal, Notification, NotificationPreference, SignalKind
from deal_signals.selectors import (
    OUTCOME_WINDOWS,
    deal_signal_list,
    deal_signal_rule_outcomes,
    signal_rules_get,
)
from deal_signals.services.notifications import (
    notification_preference_get,
    notification_preference_set,
    notifications_mark_read,
)
from deal_signals.services.signals import (
    deal_signal_create_task,
    deal_signal_dismiss,
    deal_signals_reevaluate_recent,
    signal_rule_update,
    signal_rules_ensure,
)
from partners.models import Partner
from pse_crm import roles
from pse_crm.permissions import capability_required, check_capability, request_role

PAGE_SIZE = 50


class InboxFilterForm(forms.Form):
    kind = forms.ChoiceField(
        label=gettext_lazy("Kind"),
        required=False,
        choices=[("", gettext_lazy("All kinds")), *SignalKind.choices],
    )
    partner = forms.ModelChoiceField(
        label=gettext_lazy("Partner"),
        required=False,
        queryset=None,
        empty_label=gettext_lazy("All partners"),
    )
    status = forms.ChoiceField(
        label=gettext_lazy("Status"),
        required=False,
        choices=[("", gettext_lazy("All statuses")), *DealSignal.Status.choices],
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Resolved in the request's tenant scope: another tenant's partner is no choice.
        self.fields["partner"].queryset = Partner.objects.order_by("name")


class DismissForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Why dismiss it?"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class RuleForm(forms.Form):
    is_enabled = forms.BooleanField(label=gettext_lazy("On"), required=False)
    threshold = forms.IntegerField(label=gettext_lazy("Views needed"))
    window_hours = forms.IntegerField(label=gettext_lazy("Within (hours)"))
    material_kinds = forms.MultipleChoiceField(
        label=gettext_lazy("Late-stage materials"),
        required=False,
        choices=Material.Kind.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    expiry_days = forms.IntegerField(label=gettext_lazy("Open for (days)"))


class PreferenceForm(forms.Form):
    email = forms.ChoiceField(
        label=gettext_lazy("Email me"),
        choices=NotificationPreference.Email.choices,
        widget=forms.RadioSelect,
    )
    on_duty = forms.BooleanField(
        label=gettext_lazy("On duty: also receive the signals of partners without an owner"),
        required=False,
    )


@capability_required(roles.READ)
def signal_inbox(request: HttpRequest) -> HttpResponse:
    """The signals inbox: newest first, filtered by kind, partner and status."""
    form = InboxFilterForm(request.GET or None)
    filters = {}
    if form.is_bound and form.is_valid():
        partner = form.cleaned_data.get("partner")
        filters = {
            "kind": form.cleaned_data.get("kind") or None,
            "partner_id": partner.pk if partner else None,
            "status": form.cleaned_data.get("status") or None,
        }
    page = Paginator(deal_signal_list(**filters), PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "deal_signals/inbox.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "can_act": roles.role_allows(request_role(request), roles.WRITE_ENABLEMENT),
        },
    )


@capability_required(roles.READ)
def signal_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One signal with the views that raised it; opening it reads its notification."""
    signal = get_object_or_404(
        DealSignal.objects.select_related("rep", "partner", "support_task", "handled_by"), pk=pk
    )
    views = (
        MaterialView.objects.filter(deal_signals=signal)
        .select_related("material")
        .order_by("viewed_at")
    )
    notifications_mark_read(
        user=request.user,
        notification_ids=list(
            signal.notifications.filter(user=request.user).values_list("pk", flat=True)
        ),
    )
    return render(
        request,
        "deal_signals/detail.html",
        {
            "signal": signal,
            "views": views,
            "dismiss_form": DismissForm(),
            "can_act": roles.role_allows(request_role(request), roles.WRITE_ENABLEMENT),
        },
    )


def _task_link(task) -> str:
    try:
        url = reverse("task-detail", args=[task.pk])
    except NoReverseMatch:
        return str(task)
    return format_html('<a href="{}">{}</a>', url, task)


@require_POST
@capability_required(roles.WRITE_ENABLEMENT)
def signal_act(request: HttpRequest, pk: int) -> HttpResponse:
    """One click: a support task for the rep with the viewed materials named."""
    signal = get_object_or_404(DealSignal, pk=pk)
    try:
        task = deal_signal_create_task(signal=signal, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            format_html("{} {}", _("Support task created:"), _task_link(task)),
        )
    return redirect("deal-signal", pk=signal.pk)


@require_POST
@capability_required(roles.WRITE_ENABLEMENT)
def signal_dismiss(request: HttpRequest, pk: int) -> HttpResponse:
    """Dismiss a signal; a reason is required."""
    signal = get_object_or_404(DealSignal, pk=pk)
    form = DismissForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Say why the signal is dismissed."))
        return redirect("deal-signal", pk=signal.pk)
    try:
        deal_signal_dismiss(signal=signal, user=request.user, reason=form.cleaned_data["reason"])
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Signal dismissed."))
    return redirect("deal-signal", pk=signal.pk)


@capability_required(roles.READ)
def signal_rules(request: HttpRequest) -> HttpResponse:
    """The rules with their outcomes; managers and owners change them here."""
    # A GET writes nothing: a missing rule shows the defaults.
    rules = signal_rules_get(tenant=request.tenant)
    can_edit = roles.role_allows(request_role(request), roles.MANAGE)
    bound_kind = None
    bound_form = None
    if request.method == "POST":
        check_capability(request, roles.MANAGE)
        rules = signal_rules_ensure(tenant=request.tenant)
        bound_kind = request.POST.get("kind")
        rule = rules.get(bound_kind)
        if rule is None:
            return redirect("deal-signal-rules")
        bound_form = RuleForm(request.POST, prefix=bound_kind)
        if bound_form.is_valid():
            data = bound_form.cleaned_data
            try:
                signal_rule_update(
                    rule=rule,
                    is_enabled=data["is_enabled"],
                    threshold=data["threshold"],
                    window_hours=data["window_hours"],
                    material_kinds=data["material_kinds"],
                    expiry_days=data["expiry_days"],
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    for error in errors:
                        bound_form.add_error(field if field in bound_form.fields else None, error)
            else:
                messages.success(
                    request, _("Rule saved: %(rule)s.") % {"rule": rule.get_kind_display()}
                )
                return redirect("deal-signal-rules")
    outcomes = deal_signal_rule_outcomes()
    rows = []
    for kind in SignalKind.values:
        rule = rules[kind]
        form = (
            bound_form
            if kind == bound_kind
            else RuleForm(
                prefix=kind,
                initial={
                    "is_enabled": rule.is_enabled,
                    "threshold": rule.threshold,
                    "window_hours": rule.window_hours,
                    "material_kinds": rule.material_kinds,
                    "expiry_days": rule.expiry_days,
                },
            )
        )
        if kind != SignalKind.LATE_STAGE:
            form.fields.pop("material_kinds", None)
        if kind == SignalKind.FIRST_VIEW:
            form.fields["threshold"].disabled = True
        rows.append({"rule": rule, "form": form, "outcome": outcomes[kind]})
    return render(
        request,
        "deal_signals/rules.html",
        {
            "rows": rows,
            "can_edit": can_edit,
            "windows": OUTCOME_WINDOWS,
        },
        status=400 if bound_form is not None and bound_form.errors else 200,
    )


@require_POST
@capability_required(roles.MANAGE)
def signal_reevaluate(request: HttpRequest) -> HttpResponse:
    """Evaluate the recent views again under the current rules (e.g. after a change)."""
    queued = deal_signals_reevaluate_recent(tenant=request.tenant)
    messages.success(
        request,
        _("The recent views of %(count)d reps are being evaluated; new signals appear shortly.")
        % {"count": queued},
    )
    return redirect("deal-signal-rules")


@capability_required(roles.READ)
def notification_settings(request: HttpRequest) -> HttpResponse:
    """My way of hearing about signals: one email each, a daily digest, or none."""
    pref = notification_preference_get(user=request.user)
    form = PreferenceForm(
        request.POST or None, initial={"email": pref.email, "on_duty": pref.on_duty}
    )
    if request.method == "POST" and form.is_valid():
        notification_preference_set(
            tenant=request.tenant,
            user=request.user,
            email=form.cleaned_data["email"],
            on_duty=form.cleaned_data["on_duty"],
        )
        messages.success(request, _("Your notification settings were saved."))
        return redirect("deal-signal-notifications")
    recent = Notification.objects.filter(user=request.user).select_related(
        "signal__rep", "signal__partner"
    )[:30]
    return render(
        request,
        "deal_signals/notifications.html",
        {"form": form, "recent": recent},
    )
