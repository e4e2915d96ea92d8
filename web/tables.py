"""Tables of the combined pages: the partner list."""

from __future__ import annotations

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from pse_crm.tables import BaseTable, NumColumn
from pse_crm.templatetags.pse_ui import num, pct

# The columns whose cells are right-aligned numbers.
_NUM_COLUMNS = frozenset(
    {"rep_count", "active_reps", "activation_rate", "performers", "motivated", "share"}
)


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
        # The rows are drawn in Python (``body_rows``): django-tables2's cell machinery
        # cost more per page of 50 partners than the page's queries.
        template_name = "web/partner_table.html"
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

    def body_rows(self) -> list[SafeString]:
        """The page's rows as HTML, one ``<tr>`` each, in the visible columns' order, from
        the same ``render_*`` methods as the columns; names are escaped by format_html."""
        page = getattr(self, "page", None)
        records = [row.record for row in (page.object_list if page else self.rows)]
        names = [column.name for column in self.columns]
        out = []
        for i, record in enumerate(records):
            cells = [
                format_html(
                    '<td class="num">{}</td>' if name in _NUM_COLUMNS else "<td>{}</td>",
                    self._cell(name, record),
                )
                for name in names
            ]
            out.append(
                format_html(
                    '<tr class="{}">{}</tr>',
                    "odd" if i % 2 else "even",
                    format_html_join("", "{}", ((c,) for c in cells)),
                )
            )
        return out

    def _cell(self, name: str, record):
        if name == "name":
            return self.render_name(record, record.name)
        if name == "partner_type":
            return self.render_partner_type(record)
        if name == "momentum":
            return self.render_momentum(record)
        if name == "share":
            return self.render_share(record)
        value = getattr(record, name)
        if value is None or value == "":
            return self.default
        return self.render_activation_rate(value) if name == "activation_rate" else num(value)

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
