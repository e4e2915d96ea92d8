"""Tables of the segmentation pages: the keymen list and the run history."""

from __future__ import annotations

from html import escape

import django_tables2 as tables
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import template_localtime
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from pse_crm.tables import BaseTable, NumColumn
from pse_crm.templatetags.pse_ui import money, num, pct
from segmentation.models import QUADRANT_SHORT, Quadrant, Tier
from segmentation.selectors import partner_tier_shares


def _pk_url(name: str):
    """``pk → reverse(name, args=[pk])`` for a URL whose one argument is an integer pk,
    reversed once: a page draws 50 rows of two links each."""
    marker = 987654321
    head, _marker, tail = reverse(name, args=[marker]).partition(str(marker))
    return lambda pk: f"{head}{int(pk)}{tail}"


class KeymenTable(BaseTable):
    rep = tables.Column(verbose_name=_("Rep"), order_by=("rep__name", "rep_id"), linkify=False)
    partner = tables.Column(verbose_name=_("Partner"), order_by=("partner__name", "rep_id"))
    # Each ordering ends with the rep: a total order, so pages neither repeat nor skip a
    # row whichever plan reads them (pse_crm.tables.DeferredJoinQuerySet).
    quadrant = tables.Column(verbose_name=_("Quadrant"), order_by=("quadrant", "rep_id"))
    tier = tables.Column(verbose_name=_("Tier"), default="—", order_by=("tier", "rep_id"))
    views = NumColumn(verbose_name=_("Views"), order_by=("-views", "rep_id"))
    won_amount = tables.Column(
        verbose_name=_("Won amount"),
        order_by=("-won_amount", "rep_id"),
        attrs={"th": {"class": "num"}, "td": {"class": "num"}},
    )
    won_deals = NumColumn(verbose_name=_("Won deals"), order_by=("-won_deals", "rep_id"))
    last_viewed_at = tables.DateColumn(
        verbose_name=_("Last view"), short=True, order_by=("-last_viewed_at", "rep_id")
    )
    moved = tables.Column(verbose_name=_("Moved"), empty_values=(), orderable=False)
    actions = tables.Column(
        verbose_name="", empty_values=(), orderable=False, attrs={"td": {"class": "actions"}}
    )

    class Meta(BaseTable.Meta):
        fields = ()
        # The rows are drawn in Python (``body_rows``): a template loop over 50 rows × 11
        # columns cost more than every query of the page. The columns above still give
        # the headers, the sorting and the hiding.
        template_name = "segmentation/keymen_table.html"

    def __init__(self, *args, can_manage: bool = False, can_write: bool = False, **kwargs):
        self.can_manage, self.can_write = can_manage, can_write
        super().__init__(*args, **kwargs)
        if not (can_manage or can_write):
            self.columns.hide("actions")

    def attach_tier_shares(self, *, tenant) -> None:
        """Give each row of the page ``tier_share``: its tier's actual share of its
        partner's reps in the run (one query for the page)."""
        page = getattr(self, "page", None)
        rows = [row.record for row in (page.object_list if page else self.rows)]
        shares = partner_tier_shares(
            tenant=tenant,
            partner_ids={r.partner_id for r in rows},
            run_ids={r.run_id for r in rows},
        )
        for r in rows:
            r.tier_share = shares.get((r.run_id, r.partner_id), {}).get(r.tier)

    def body_rows(self) -> list[SafeString]:
        """The page's rows as HTML, one ``<tr>`` each, in the visible columns' order.

        Built with f-strings, every value passed through ``html.escape`` (what
        ``format_html`` does to each argument that is not already safe, so the HTML is the
        same): ``format_html`` per cell cost a fifth of the page. Labels, links and dates
        are escaped once a page, names once a row."""
        page = getattr(self, "page", None)
        records = [row.record for row in (page.object_list if page else self.rows)]
        names = [column.name for column in self.columns]
        quadrants = {key: escape(str(label)) for key, label in Quadrant.choices}
        short = {key: escape(str(label)) for key, label in QUADRANT_SHORT.items()}
        tiers = {key: escape(str(label)) for key, label in Tier.choices}
        tier_title = escape(gettext("share of the partner's reps in this tier"))
        assign, hearing = escape(gettext("Assign task")), escape(gettext("Log hearing"))
        task_url, hearing_url = escape(reverse("task-create")), escape(reverse("hearing-create"))
        rep_url, partner_url = _pk_url("rep-detail"), _pk_url("partner-detail")
        days: dict = {}  # a local day's short date, formatted and escaped once a page
        out = []
        for r in records:
            cells = []
            for name in names:
                if name == "rep":
                    url = escape(rep_url(r.rep_id))
                    cells.append(f'<td><a href="{url}">{escape(r.rep.name)}</a></td>')
                elif name == "partner":
                    url = escape(partner_url(r.partner_id))
                    cells.append(f'<td><a href="{url}">{escape(r.partner.name)}</a></td>')
                elif name == "quadrant":
                    q = r.quadrant
                    label = quadrants.get(q, escape(q))
                    cells.append(
                        f'<td><span class="badge q-{escape(q)}" title="{label}">'
                        f"{short.get(q, label)}</span></td>"
                    )
                elif name == "tier":
                    if not r.tier:
                        cells.append("<td>—</td>")
                        continue
                    share = getattr(r, "tier_share", None)
                    shown = "" if share is None else escape(f" · {pct(share, 0)}")
                    cells.append(
                        f'<td><span class="badge t-{escape(r.tier)}" title="{tier_title}">'
                        f"{tiers.get(r.tier, escape(r.tier))}{shown}</span></td>"
                    )
                elif name in ("views", "won_deals"):
                    cells.append(f'<td class="num">{escape(num(getattr(r, name)))}</td>')
                elif name == "won_amount":
                    cells.append(f'<td class="num">{escape(money(r.won_amount))}</td>')
                elif name == "last_viewed_at":
                    shown = "—"
                    if r.last_viewed_at is not None:
                        local = template_localtime(r.last_viewed_at)  # as the date filter
                        day = local.date()
                        if day not in days:
                            days[day] = escape(date_format(local, "SHORT_DATE_FORMAT"))
                        shown = days[day]
                    cells.append(f"<td>{shown}</td>")
                elif name == "moved":
                    if not r.moved:
                        cells.append("<td></td>")
                        continue
                    previous = r.previous_quadrant
                    label = quadrants.get(previous, escape(previous))
                    cells.append(
                        f'<td><span class="small muted" title="{label}">'
                        f"{short.get(previous, label)} →</span></td>"
                    )
                elif name == "actions":
                    links = ""
                    if self.can_manage and r.rep.is_employed:
                        links += (
                            f'<a class="btn btn-small btn-primary" href="{task_url}?rep={r.rep_id}"'
                            f' data-testid="assign">{assign}</a> '
                        )
                    if self.can_write:
                        links += (
                            f'<a class="btn btn-small" href="{hearing_url}?rep={r.rep_id}">'
                            f"{hearing}</a>"
                        )
                    cells.append(f'<td class="actions">{links}</td>')
            row = f'<tr data-quadrant="{escape(r.quadrant)}">' + "\n".join(cells) + "</tr>"
            out.append(mark_safe(row))  # noqa: S308 (every value escaped above)
        return out


class RunTable(BaseTable):
    as_of = tables.DateTimeColumn(verbose_name=_("As of"), short=True)
    trigger = tables.Column(verbose_name=_("Trigger"))
    status = tables.Column(verbose_name=_("Status"))
    duration_ms = tables.Column(
        verbose_name=_("Duration"), attrs={"th": {"class": "num"}, "td": {"class": "num"}}
    )
    rep_count = NumColumn(verbose_name=_("Reps"))
    active_rep_count = NumColumn(verbose_name=_("Active reps"))
    keymen = tables.Column(verbose_name=_("Keyman ① / ②"), empty_values=(), orderable=False)
    requested_by = tables.Column(verbose_name=_("Requested by"), orderable=False)
    is_current = tables.BooleanColumn(verbose_name=_("Current"), orderable=False)

    class Meta(BaseTable.Meta):
        fields = ()
        row_attrs = {"data-status": lambda record: record.status}

    def render_trigger(self, record):
        return record.get_trigger_display()

    def render_status(self, record):
        badge = format_html(
            '<span class="badge s-{}">{}</span>', record.status, record.get_status_display()
        )
        if record.error:
            return format_html('{} <span class="small muted">{}</span>', badge, record.error[:120])
        return badge

    def render_duration_ms(self, value):
        seconds = value / 1000
        return num(seconds, 1) + " s"

    def render_keymen(self, record):
        counts = record.quadrant_counts or {}
        return f"{num(counts.get('performer', 0))} / {num(counts.get('motivated', 0))}"
