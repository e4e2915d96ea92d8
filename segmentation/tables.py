"""Tables of the segmentation pages: the keymen list and the run history."""

from __future__ import annotations

import django_tables2 as tables
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from pse_crm.tables import BaseTable, NumColumn
from pse_crm.templatetags.pse_ui import num
from segmentation.selectors import partner_tier_shares


class KeymenTable(BaseTable):
    rep = tables.Column(verbose_name=_("Rep"), order_by=("rep__name", "rep_id"), linkify=False)
    partner = tables.Column(verbose_name=_("Partner"), order_by=("partner__name", "rep_id"))
    quadrant = tables.Column(verbose_name=_("Quadrant"))
    tier = tables.Column(verbose_name=_("Tier"), default="—")
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
        # Rows are drawn by the template from the record (fast at 50 rows × 11 columns);
        # the columns above still give the headers, the sorting and the hiding.
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
