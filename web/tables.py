"""Tables of the combined pages: the partner list."""

from __future__ import annotations

from html import escape

import django_tables2 as tables
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _

from partners.models import Partner
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
        """The page's rows as HTML, one ``<tr>`` each, in the visible columns' order.

        Built with f-strings, every value passed through ``html.escape`` (what
        ``format_html`` does to each argument that is not already safe, so the HTML is the
        same as the columns' cells would be). What is the same on every row (labels, the
        badges of the three momentum labels, the link's prefix) is built once a page: per
        cell, ``format_html``, ``reverse`` and ``get_partner_type_display`` cost a third of
        the page."""
        page = getattr(self, "page", None)
        records = [row.record for row in (page.object_list if page else self.rows)]
        names = [column.name for column in self.columns]
        marker = 987654321
        head, _marker, tail = reverse("partner-detail", args=[marker]).partition(str(marker))
        head, tail = escape(head), escape(tail)
        types = {key: escape(str(label)) for key, label in Partner.Type.choices}
        # The messages outside the f-strings: xgettext does not read inside one.
        no_performer = escape(str(_("No top player yet: make a first one")))
        flag = f' <span class="badge flag" data-testid="first-performer-flag">{no_performer}</span>'
        badges: dict[str, str] = {}  # a momentum label's badge, built once a page
        no_snapshots = escape(str(_("No snapshots yet")))
        no_momentum = f'<span class="badge">{no_snapshots}</span>'
        default = escape(str(self.default))
        out = []
        for i, record in enumerate(records):
            cells = []
            for name in names:
                if name == "name":
                    html = f'<a href="{head}{int(record.pk)}{tail}">{escape(record.name)}</a>'
                    if record.needs_first_performer:
                        html += flag
                elif name == "partner_type":
                    kind = record.partner_type
                    html = types[kind] if kind in types else escape(kind)
                elif name == "momentum":
                    momentum = self.trends.get(record.pk)
                    if momentum is None:
                        html = no_momentum
                    else:
                        if momentum.label not in badges:
                            arrow = {"accelerating": "↗", "stalling": "↘"}.get(momentum.label, "→")
                            badges[momentum.label] = (
                                f'<span class="badge m-{escape(momentum.label)}">{arrow} '
                                f"{escape(momentum.label_display)}</span>"
                            )
                        html = badges[momentum.label]
                elif name == "share":
                    html = self._share_cell(record)
                else:
                    value = getattr(record, name)
                    if value is None or value == "":
                        html = default
                    elif name == "activation_rate":
                        html = escape(pct(value))
                    else:
                        html = escape(num(value))
                cells.append(
                    f'<td class="num">{html}</td>' if name in _NUM_COLUMNS else f"<td>{html}</td>"
                )
            row = f'<tr class="{"odd" if i % 2 else "even"}">' + "".join(cells) + "</tr>"
            out.append(mark_safe(row))  # noqa: S308 (every value escaped above)
        return out

    def _share_cell(self, record) -> str:
        """The share of wallet cell's HTML: the last complete quarter's share and its move
        against the quarter before."""
        trend = self.shares.get(record.pk)
        if trend is None:
            return "—"
        last = trend.last
        if last.share is None:
            text = _("inconsistent") if last.inconsistent else _("no total reported")
            return (
                f'<span class="muted small" title="{escape(last.label)}">{escape(str(text))}</span>'
            )
        change = trend.change_points
        if change is None:
            arrow, title = "", _("no share in the quarter before")
        else:
            arrow = "↗" if change > 0.05 else "↘" if change < -0.05 else "→"
            title = _("%(change)+.1f pt against the quarter before") % {"change": change}
        return (
            f'<span data-testid="share-cell" title="{escape(last.label)} · {escape(str(title))}">'
            f"{escape(pct(last.share))} {arrow}</span>"
        )
