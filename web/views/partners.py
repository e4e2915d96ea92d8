"""Partners: the list with activation, keymen and momentum; one partner's page; the
first-performer playbook's one-click support tasks."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST
from django_tables2 import RequestConfig
from django_tables2.paginators import LazyPaginator

from activities.selectors import deals_unconverted
from momentum.selectors import momentum_indicators, momentum_snapshots
from partners.models import Partner
from pse_crm import roles
from pse_crm.calendar import tenant_today
from pse_crm.permissions import capability_required, request_role
from pse_crm.tables import DeferredJoinQuerySet
from segmentation.selectors import (
    keymen_default_order,
    rep_segments_current,
    rep_segments_of_partner,
    rep_segments_placed_at,
    segmentation_current_run,
)
from segmentation.tables import KeymenTable
from support.models import SupportTask
from support.services.support_tasks import support_task_bulk_create
from web import selectors as pages
from web.share_of_wallet import partner_share_history, share_trends
from web.tables import PartnerTable

PER_PAGE = 50
# The first-performer tasks: intensive support, due in two weeks.
FIRST_PERFORMER_DUE_DAYS = 14


@capability_required(roles.READ)
def partner_list(request: HttpRequest) -> HttpResponse:
    qs = pages.partners_with_current_segments()
    query = request.GET.get("q", "").strip()
    if query:
        qs = qs.filter(name__icontains=query)
    if request.GET.get("first_performer") == "1":
        qs = qs.filter(needs_first_performer=True)
    table = PartnerTable(qs)
    RequestConfig(request, paginate={"per_page": PER_PAGE}).configure(table)
    shown = [row.record.pk for row in table.page.object_list]
    # The labels of the page's partners, in one query whatever the page size.
    table.trends = momentum_indicators(tenant=request.tenant, partner_ids=shown)
    # The shares of the page's partners only (3 queries): the wins of 50 partners, not 300.
    table.shares = share_trends(tenant=request.tenant, partner_ids=shown)
    return render(
        request,
        "web/partner_list.html",
        {
            "table": table,
            "q": query,
            "first_performer": request.GET.get("first_performer") == "1",
            "run": segmentation_current_run(tenant=request.tenant),
        },
    )


@capability_required(roles.READ)
def partner_detail(request: HttpRequest, pk: int) -> HttpResponse:
    partner = get_object_or_404(Partner.objects.select_related("owner"), pk=pk)
    tenant = request.tenant
    segment = pages.partner_segment_current(partner=partner)
    tier = request.GET.get("tier") or None
    ranked = segment is not None and segment.run.segments_ranked
    order = keymen_default_order(quadrant=None, results_measure=None, ranked=ranked)
    # The table from the run of the figures read above: one run on the page, even while
    # a new run becomes current.
    current = rep_segments_current(
        tenant=tenant, tier=tier, run_id=segment.run_id if segment is not None else None
    ).order_by(*order)
    # The first pages from the segments the run placed here (no join to reps, so the
    # database sorts only the rows shown), checked against the partner's reps now; the
    # first page, in the run's order, from the first reps the run listed for the partner.
    placed = rep_segments_placed_at(current, partner_id=partner.pk)
    listed = segment.first_listed_reps if ranked and tier is None else []
    leading = None
    if listed:
        # (All of the partner's reps when it has no more.)
        complete = len(listed) >= segment.reps
        leading = (order, placed.filter(rep_id__in=listed), len(listed), complete)
    table = KeymenTable(
        DeferredJoinQuerySet.wrap(
            rep_segments_of_partner(current, partner_id=partner.pk),
            superset=placed,
            leading=leading,
        ),
        can_manage=roles.role_allows(request_role(request), roles.MANAGE),
        can_write=roles.role_allows(request_role(request), roles.WRITE_ENABLEMENT),
        exclude=("partner",),
    )
    RequestConfig(
        request, paginate={"per_page": PER_PAGE, "paginator_class": LazyPaginator}
    ).configure(table)
    table.attach_tier_shares(tenant=tenant)
    # The current run's figures of the partner, read above: not a second time.
    tiers = pages.tier_counts_of(segment)
    has_momentum = momentum_snapshots(tenant=tenant, partner_id=partner.pk).exists()
    playbook = (
        pages.first_performer_playbook(tenant=tenant, partner=partner)
        if segment is not None and segment.needs_first_performer
        else []
    )
    context = {
        "partner": partner,
        "segment": segment,
        "rep_counts": pages.partner_rep_counts(partner=partner),
        "table": table,
        "tier": tier,
        "tiers": pages.tier_rows(tiers),
        "untiered": tiers.get("none", 0),
        "momentum": momentum_indicators(tenant=tenant, partner_ids=[partner.pk]).get(partner.pk)
        if has_momentum
        else None,
        "has_momentum": has_momentum,
        "shares": pages.partner_know_how_shares(partner=partner),
        "playbook": playbook,
        "wallet_rows": partner_share_history(tenant=tenant, partner_id=partner.pk),
        "unconverted": deals_unconverted(tenant=tenant, partner_id=partner.pk),
    }
    return render(request, "web/partner_detail.html", context)


@require_POST
@capability_required(roles.MANAGE)
def partner_first_performer_tasks(request: HttpRequest, pk: int) -> HttpResponse:
    """One click: an intensive-support task, assigned to the manager who clicked, for each
    first-performer candidate of the partner without an open task (support's bulk
    service: all or nothing)."""
    partner = get_object_or_404(Partner, pk=pk)
    back = redirect("dashboard") if request.POST.get("back") == "dashboard" else None
    back = back or redirect("partner-detail", pk=partner.pk)
    playbook = pages.first_performer_playbook(tenant=request.tenant, partner=partner)
    reps = playbook[0]["to_support"] if playbook else []
    if not reps:
        messages.info(request, _("No candidate without an open support task."))
        return back
    try:
        tasks = support_task_bulk_create(
            tenant=request.tenant,
            reps=reps,
            kind=SupportTask.Kind.ACCOMPANY,
            assignee=request.user,
            assigned_by=request.user,
            due_on=tenant_today(request.tenant) + dt.timedelta(days=FIRST_PERFORMER_DUE_DAYS),
            title=_("First performer: intensive support"),
            description=_(
                "%(partner)s has no keyman ① yet. Intensive support for one of its most"
                " motivated reps, until a first win."
            )
            % {"partner": partner.name},
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return back
    messages.success(
        request,
        ngettext(
            "%(n)d intensive-support task created for %(partner)s.",
            "%(n)d intensive-support tasks created for %(partner)s.",
            len(tasks),
        )
        % {"n": len(tasks), "partner": partner.name},
    )
    return back
