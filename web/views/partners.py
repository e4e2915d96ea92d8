"""Partners: the list with activation, keymen and momentum; one partner's page."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django_tables2 import RequestConfig
from django_tables2.paginators import LazyPaginator

from momentum.selectors import momentum_indicators, momentum_snapshots
from partners.models import Partner
from pse_crm import roles
from pse_crm.permissions import capability_required
from pse_crm.tables import DeferredJoinQuerySet
from segmentation.models import Tier
from segmentation.selectors import rep_segments_current
from segmentation.tables import KeymenTable
from web import selectors as pages
from web.tables import PartnerTable

PER_PAGE = 50


@capability_required(roles.READ)
def partner_list(request: HttpRequest) -> HttpResponse:
    qs = pages.partners_with_current_segments()
    query = request.GET.get("q", "").strip()
    if query:
        qs = qs.filter(name__icontains=query)
    table = PartnerTable(qs)
    RequestConfig(request, paginate={"per_page": PER_PAGE}).configure(table)
    # Every partner's label in one query, whatever the page size.
    table.trends = momentum_indicators()
    return render(request, "web/partner_list.html", {"table": table, "q": query})


@capability_required(roles.READ)
def partner_detail(request: HttpRequest, pk: int) -> HttpResponse:
    partner = get_object_or_404(Partner.objects.select_related("owner"), pk=pk)
    tenant = request.tenant
    segment = pages.partner_segment_current(partner=partner)
    tier = request.GET.get("tier") or None
    reps = rep_segments_current(tenant=tenant, partner_id=partner.pk, tier=tier)
    table = KeymenTable(
        DeferredJoinQuerySet.wrap(reps.order_by("-score", "rep_id")),
        can_manage=roles.role_allows(request.membership.role, roles.MANAGE),
        can_write=roles.role_allows(request.membership.role, roles.WRITE_ENABLEMENT),
        exclude=("partner",),
    )
    RequestConfig(
        request, paginate={"per_page": PER_PAGE, "paginator_class": LazyPaginator}
    ).configure(table)
    tiers = pages.partner_tier_counts(tenant=tenant, partner=partner)
    has_momentum = momentum_snapshots(partner_id=partner.pk).exists()
    context = {
        "partner": partner,
        "segment": segment,
        "rep_counts": pages.partner_rep_counts(partner=partner),
        "table": table,
        "tier": tier,
        "tiers": [
            {"key": key, "label": label, "count": tiers.get(key, 0)} for key, label in Tier.choices
        ],
        "untiered": tiers.get("none", 0),
        "momentum": momentum_indicators().get(partner.pk) if has_momentum else None,
        "has_momentum": has_momentum,
        "shares": pages.partner_know_how_shares(partner=partner),
    }
    return render(request, "web/partner_detail.html", context)
