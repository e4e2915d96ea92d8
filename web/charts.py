"""Chart data for the pages, as django-chartjs JSON views fetched by static/js/app.js.

Only the view classes of django-chartjs are used: its bundled Chart.js 2 is never served
(``chartjs`` is not an installed app); the pages load Chart.js 4 from node_modules.

Every weekly chart says which of its weeks are incomplete (``partial``: the current week,
or a week whose snapshot was taken before it ended). app.js draws them dashed with a
hollow point and says so in the tooltip, so an unfinished week never reads as a drop.
"""

from __future__ import annotations

import datetime as dt

from chartjs.views.base import JSONView
from chartjs.views.lines import BaseLineChartView
from django.shortcuts import get_object_or_404
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from momentum.selectors import momentum_snapshots
from partners.models import Partner
from pse_crm import roles
from pse_crm.calendar import day_start, tenant_today
from pse_crm.permissions import TenantViewMixin
from reps.models import Rep
from web import selectors as pages
from web.share_of_wallet import partner_share_history


class _ChartMixin(TenantViewMixin):
    capability = roles.READ

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        # TemplateView puts the view itself and the URL kwargs in the context: not data.
        context.pop("view", None)
        for key in self.kwargs:
            context.pop(key, None)
        return context


class _SeriesChart(_ChartMixin, BaseLineChartView):
    """Labels plus one dataset per series; colours are chosen by app.js. Weekly charts
    give ``get_partial``: one flag per label, true for an incomplete week."""

    def get_dataset_options(self, index, color):
        return {}

    def get_partial(self) -> list[bool]:
        return []

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["partial"] = self.get_partial()
        context["partial_text"] = _("week in progress: not complete yet")
        return context


class RepViewsChart(_SeriesChart):
    def get_rows(self):
        if not hasattr(self, "_rows"):
            rep = get_object_or_404(Rep.objects.select_related("tenant"), pk=self.kwargs["pk"])
            self._rep = rep
            self._rows = pages.rep_views_by_week(rep=rep)
        return self._rows

    def get_labels(self):
        return [date_format(week, "SHORT_DATE_FORMAT") for week, _n in self.get_rows()]

    def get_partial(self):
        rows = self.get_rows()
        today = tenant_today(self._rep.tenant)
        return [week + dt.timedelta(days=7) > today for week, _n in rows]

    def get_providers(self):
        return [_("Material views")]

    def get_data(self):
        return [[n for _week, n in self.get_rows()]]


class MomentumChart(_SeriesChart):
    """Active reps and won deals per week, for the tenant or (``pk``) one partner."""

    def get_rows(self):
        if not hasattr(self, "_rows"):
            if "pk" in self.kwargs:
                partner = get_object_or_404(Partner, pk=self.kwargs["pk"])
                self._rows = list(
                    momentum_snapshots(tenant=self.request.tenant, partner_id=partner.pk)
                )
            else:
                self._rows = list(momentum_snapshots(tenant=self.request.tenant, whole_tenant=True))
        return self._rows

    def get_labels(self):
        return [date_format(row.week_start, "SHORT_DATE_FORMAT") for row in self.get_rows()]

    def get_partial(self):
        tenant = self.request.tenant
        return [
            row.computed_at < day_start(tenant, row.week_start + dt.timedelta(days=7))
            for row in self.get_rows()
        ]

    def get_providers(self):
        return [_("Active reps"), _("Won deals")]

    def get_data(self):
        rows = self.get_rows()
        return [[row.active_reps for row in rows], [row.won_deals for row in rows]]

    def get_datasets(self):
        datasets = super().get_datasets()
        if len(datasets) > 1:
            datasets[1]["yAxisID"] = "y1"
        return datasets


class ScatterChart(_ChartMixin, JSONView):
    """Views × results of the current run, one dataset per quadrant, with the thresholds."""

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        partner = None
        if "pk" in self.kwargs:
            partner = get_object_or_404(Partner, pk=self.kwargs["pk"])
        context.update(pages.scatter_payload(tenant=self.request.tenant, partner=partner))
        return context


class ShareChart(_SeriesChart):
    """A partner's share of wallet per quarter, in percent. A quarter with no share (no
    total reported, inconsistent, no rate) is a gap in the line, never 0%; the current
    quarter is partial."""

    def get_rows(self):
        if not hasattr(self, "_rows"):
            partner = get_object_or_404(Partner, pk=self.kwargs["pk"])
            self._rows = partner_share_history(tenant=self.request.tenant, partner_id=partner.pk)
        return self._rows

    def get_labels(self):
        return [row.label for row in self.get_rows()]

    def get_partial(self):
        return [row.in_progress for row in self.get_rows()]

    def get_providers(self):
        return [_("Share of wallet (%)")]

    def get_data(self):
        return [
            [None if row.share is None else round(row.share * 100, 1) for row in self.get_rows()]
        ]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["partial_text"] = _("quarter in progress: not complete yet")
        return context
