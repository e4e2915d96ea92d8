"""Hearings with keyman ① and the know-how drawn from them, and its spread to partners."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django_tables2 import RequestConfig

from knowhow.forms import HearingForm, KnowHowEditForm, KnowHowForm, ShareForm
from knowhow.models import Hearing, KnowHow, KnowHowShare
from knowhow.selectors import hearing_list as hearing_list_select
from knowhow.selectors import know_how_effect, know_how_reach
from knowhow.services import (
    hearing_create,
    hearing_update,
    know_how_create,
    know_how_share,
    know_how_update,
)
from knowhow.tables import HearingTable
from pse_crm import roles
from pse_crm.calendar import tenant_today
from pse_crm.permissions import capability_required, request_role
from reps.models import Rep

PER_PAGE = 50


def _effect_context(effect: dict, title: str) -> dict:
    """The context of the effect's card (knowhow/_effect.html)."""
    return {"effect": effect, "effect_title": title}


@capability_required(roles.READ)
def hearing_list(request: HttpRequest) -> HttpResponse:
    tag = request.GET.get("tag") or None
    table = HearingTable(hearing_list_select(tag=tag))
    RequestConfig(request, paginate={"per_page": PER_PAGE}).configure(table)
    return render(request, "knowhow/hearing_list.html", {"table": table, "tag": tag})


@capability_required(roles.WRITE_ENABLEMENT)
def hearing_create_view(request: HttpRequest) -> HttpResponse:
    rep_id = request.POST.get("rep") or request.GET.get("rep")
    if rep_id and not str(rep_id).isdigit():
        raise Http404
    rep = get_object_or_404(Rep.objects.select_related("partner"), pk=rep_id) if rep_id else None
    if rep is None:
        messages.info(request, _("Choose the rep from the keymen list, then log the hearing."))
        return redirect("keymen")
    form = HearingForm(
        request.POST or None, initial={"rep": rep.pk, "held_on": tenant_today(request.tenant)}
    )
    if request.method == "POST" and form.is_valid():
        try:
            hearing = hearing_create(
                tenant=request.tenant, held_by=request.user, **form.cleaned_data
            )
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(request, _("Hearing with %(rep)s saved.") % {"rep": rep.name})
            return redirect("hearing-detail", pk=hearing.pk)
    return render(request, "knowhow/hearing_form.html", {"form": form, "rep": rep})


@capability_required(roles.WRITE_ENABLEMENT)
def hearing_edit(request: HttpRequest, pk: int) -> HttpResponse:
    hearing = get_object_or_404(Hearing.objects.select_related("rep", "rep__partner"), pk=pk)
    initial = {
        "rep": hearing.rep_id,
        "held_on": hearing.held_on,
        "finding_customers": hearing.finding_customers,
        "sales_approach": hearing.sales_approach,
        "materials_used": hearing.materials_used,
        "objections": hearing.objections,
        "notes": hearing.notes,
        "tags": ", ".join(hearing.tags or []),
    }
    form = HearingForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            hearing_update(tenant=request.tenant, hearing=hearing, **form.cleaned_data)
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(request, _("Hearing saved."))
            return redirect("hearing-detail", pk=hearing.pk)
    return render(
        request,
        "knowhow/hearing_form.html",
        {"form": form, "rep": hearing.rep, "hearing": hearing},
    )


@capability_required(roles.READ)
def hearing_detail(request: HttpRequest, pk: int) -> HttpResponse:
    hearing = get_object_or_404(
        Hearing.objects.select_related("rep", "rep__partner", "held_by"), pk=pk
    )
    know_how = list(KnowHow.objects.filter(sources__hearing=hearing).order_by("-created_at"))
    return render(
        request, "knowhow/hearing_detail.html", {"hearing": hearing, "know_how": know_how}
    )


@capability_required(roles.READ)
def knowhow_list(request: HttpRequest) -> HttpResponse:
    items = list(KnowHow.objects.select_related("created_by").order_by("-created_at", "-pk")[:200])
    reach = know_how_reach(tenant=request.tenant, know_how_ids=[k.pk for k in items])
    for item in items:
        item.reach = reach.get(item.pk, {})
    effect = know_how_effect(tenant=request.tenant, know_how_id=None)
    return render(
        request,
        "knowhow/knowhow_list.html",
        {"items": items, **_effect_context(effect, _("Effect of all know-how"))},
    )


def _knowhow_save(request: HttpRequest, know_how: KnowHow | None) -> HttpResponse:
    form_class = KnowHowEditForm if know_how else KnowHowForm
    kwargs = {"instance": know_how} if know_how else {}
    if know_how is None and request.GET.get("hearing", "").isdigit():
        # "Write know-how from it" on a hearing page: that hearing is the first source.
        kwargs["initial"] = {"hearings": [int(request.GET["hearing"])]}
    form = form_class(request.POST or None, **kwargs)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            if know_how is None:
                know_how = know_how_create(
                    tenant=request.tenant,
                    title=data["title"],
                    body=data["body"],
                    hearings=list(data["hearings"]),
                    created_by=request.user,
                    tags=data["tags"],
                    products=data["products"],
                )
            else:
                know_how_update(
                    tenant=request.tenant,
                    know_how=know_how,
                    hearings=list(data["hearings"]),
                    title=data["title"],
                    body=data["body"],
                    tags=data["tags"],
                    products=data["products"],
                )
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(request, _("Know-how saved."))
            return redirect("knowhow-detail", pk=know_how.pk)
    return render(request, "knowhow/knowhow_form.html", {"form": form, "know_how": know_how})


@capability_required(roles.WRITE_ENABLEMENT)
def knowhow_create(request: HttpRequest) -> HttpResponse:
    return _knowhow_save(request, None)


@capability_required(roles.WRITE_ENABLEMENT)
def knowhow_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _knowhow_save(request, get_object_or_404(KnowHow, pk=pk))


@capability_required(roles.READ)
def knowhow_detail(request: HttpRequest, pk: int) -> HttpResponse:
    know_how = get_object_or_404(KnowHow.objects.select_related("created_by"), pk=pk)
    can_share = roles.role_allows(request_role(request), roles.WRITE_ENABLEMENT)
    form = ShareForm(request.POST or None) if can_share else None
    if request.method == "POST":
        if not can_share:
            raise PermissionDenied
        if form.is_valid():
            data = form.cleaned_data
            try:
                know_how_share(
                    tenant=request.tenant,
                    know_how=know_how,
                    shared_by=request.user,
                    partner=data["partner"] if data["rep"] is None else None,
                    rep=data["rep"],
                    shared_on=data["shared_on"],
                    notes=data["notes"],
                )
            except ValidationError as error:
                form.add_service_errors(error)
            else:
                messages.success(request, _("Share recorded."))
                return redirect("knowhow-detail", pk=know_how.pk)
    shares = list(
        KnowHowShare.objects.filter(know_how=know_how)
        .select_related("partner", "rep", "shared_by")
        .order_by("-shared_on", "-pk")[:100]
    )
    sources = list(Hearing.objects.filter(know_how=know_how).select_related("rep", "rep__partner"))
    return render(
        request,
        "knowhow/knowhow_detail.html",
        {
            "know_how": know_how,
            "shares": shares,
            "sources": sources,
            "form": form,
            "reach": know_how_reach(tenant=request.tenant, know_how_ids=[know_how.pk]).get(
                know_how.pk, {}
            ),
            **_effect_context(
                know_how_effect(tenant=request.tenant, know_how_id=know_how.pk), _("Effect")
            ),
        },
    )
