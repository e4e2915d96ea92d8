"""Tables of the combined pages: the partner list."""

from __future__ import annotations

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from pse_crm.tables import BaseTable, NumColumn
from pse_crm.templatetags.pse_ui import pct


class PartnerTable(BaseTable):
    name = tables.Column(verbose_name=_("Partner"))
    partner_type = tables.Column(verbose_name=_("Type"))
    rep_count = NumColumn(verbose_name=_("Reps"))
    active_reps = NumColumn(verbose_name=_("Active reps"), default=None)
    activation_rate = tables.Column(
        verbose_name=_("Activation rate"),
        attrs={"th": {"class": "num"}, "td": {"class": "num"}},
        default=None,
    )
    performers = NumColumn(verbose_name=_("Keyman ①"), default=None)
    motivated = NumColumn(verbose_name=_("Keyman ②"), default=None)
    momentum = tables.Column(verbose_name=_("Momentum"), orderable=False, empty_values=())
    share = tables.Column(
        verbose_name=_("Share of wallet"),
        orderable=False,
        empty_values=(),
        attrs={"th": {"class": "num"}, "td": {"class": "num"}},
    )

    class Meta(BaseTable.Meta):
        fields = ()
        sequence = (
            "name",
            "partner_type",
            "rep_count",
            "active_reps",
            "activation_rate",
            "performers",
            "motivated",
            "momentum",
            "share",
        )

    def __init__(self, *args, trends: dict | None = None, shares: dict | None = None, **kwargs):
        self.trends = trends or {}
        # web.share_of_wallet.share_trends: the last complete quarter against the one before.
        self.shares = shares or {}
        super().__init__(*args, **kwargs)

    def render_name(self, record, value):
        link = format_html(
            '<a href="{}">{}</a>', reverse("partner-detail", args=[record.pk]), value
        )
        if not record.needs_first_performer:
            return link
        return format_html(
            '{} <span class="badge flag" data-testid="first-performer-flag">{}</span>',
            link,
            _("No top player yet: make a first one"),
        )

    def render_partner_type(self, record):
        return record.get_partner_type_display()

    def render_activation_rate(self, value):
        return pct(value)

    def render_momentum(self, record):
        momentum = self.trends.get(record.pk)
        if momentum is None:
            return format_html('<span class="badge">{}</span>', _("No snapshots yet"))
        arrow = {"accelerating": "↗", "stalling": "↘"}.get(momentum.label, "→")
        return format_html(
            '<span class="badge m-{}">{} {}</span>',
            momentum.label,
            arrow,
            momentum.label_display,
        )

    def render_share(self, record):
        trend = self.shares.get(record.pk)
        if trend is None:
            return "—"
        last = trend.last
        if last.share is None:
            text = _("inconsistent") if last.inconsistent else _("no total reported")
            return format_html('<span class="muted small" title="{}">{}</span>', last.label, text)
        change = trend.change_points
        if change is None:
            arrow, title = "", _("no share in the quarter before")
        else:
            arrow = "↗" if change > 0.05 else "↘" if change < -0.05 else "→"
            title = _("%(change)+.1f pt against the quarter before") % {"change": change}
        return format_html(
            '<span data-testid="share-cell" title="{} · {}">{} {}</span>',
            last.label,
            title,
            pct(last.share),
            arrow,
        )
