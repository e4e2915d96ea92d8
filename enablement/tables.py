"""Tables of the pages (django-tables2). Ordering happens in SQL, paging without COUNT(*)
where a table can reach 50,000 rows."""

from __future__ import annotations

import django_tables2 as tables
from django.db.models import QuerySet
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from enablement.templatetags.pse_ui import num, pct

TEMPLATE = "tables/table.html"


def _paths(tree: dict, prefix: str = "") -> list[str]:
    """select_related's nested dict as lookup paths: {"rep": {"partner": {}}} → rep__partner."""
    out = []
    for name, sub in tree.items():
        out.extend(_paths(sub, f"{prefix}{name}__") if sub else [f"{prefix}{name}"])
    return out


class DeferredJoinQuerySet(QuerySet):
    """A queryset whose slices are fetched in two steps: first the page's ids, ordered and
    offset without any join but those the ordering needs; then those rows with their
    related rows. Sorting 50,000 narrow rows is cheap; sorting them joined to reps and
    partners is not.
    """

    def __getitem__(self, k):
        related = self.query.select_related
        if not isinstance(k, slice) or self._result_cache is not None or not related:
            return super().__getitem__(k)
        ids = list(self.select_related(None).values_list("pk", flat=True)[k])
        rows = self.model._default_manager.filter(pk__in=ids)
        if isinstance(related, dict):
            rows = rows.select_related(*_paths(related))
        by_pk = {row.pk: row for row in rows}
        return [by_pk[pk] for pk in ids if pk in by_pk]

    @classmethod
    def wrap(cls, qs: QuerySet) -> DeferredJoinQuerySet:
        return cls(model=qs.model, query=qs.query.chain(), using=qs.db)


class _Table(tables.Table):
    class Meta:
        template_name = TEMPLATE
        attrs = {"class": "data"}
        order_by_field = "sort"
        page_field = "page"
        empty_text = _("Nothing matches.")


class _NumColumn(tables.Column):
    def __init__(self, *args, digits: int = 0, **kwargs):
        self.digits = digits
        kwargs.setdefault("attrs", {"th": {"class": "num"}, "td": {"class": "num"}})
        super().__init__(*args, **kwargs)

    def render(self, value):
        return num(value, self.digits)


class PartnerTable(_Table):
    name = tables.Column(
        verbose_name=_("Partner"), linkify=("partner-detail", {"pk": tables.A("pk")})
    )
    partner_type = tables.Column(verbose_name=_("Type"))
    rep_count = _NumColumn(verbose_name=_("Reps"))
    active_reps = _NumColumn(verbose_name=_("Active reps"), default=None)
    activation_rate = tables.Column(
        verbose_name=_("Activation rate"),
        attrs={"th": {"class": "num"}, "td": {"class": "num"}},
        default=None,
    )
    performers = _NumColumn(verbose_name=_("Keyman ①"), default=None)
    motivated = _NumColumn(verbose_name=_("Keyman ②"), default=None)
    momentum = tables.Column(verbose_name=_("Momentum"), orderable=False, empty_values=())

    class Meta(_Table.Meta):
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
        )

    def __init__(self, *args, trends: dict | None = None, **kwargs):
        self.trends = trends or {}
        super().__init__(*args, **kwargs)

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


class KeymenTable(_Table):
    rep = tables.Column(verbose_name=_("Rep"), order_by=("rep__name", "rep_id"), linkify=False)
    partner = tables.Column(verbose_name=_("Partner"), order_by=("partner__name", "rep_id"))
    quadrant = tables.Column(verbose_name=_("Quadrant"))
    tier = tables.Column(verbose_name=_("Tier"), default="—")
    views = _NumColumn(verbose_name=_("Views"), order_by=("-views", "rep_id"))
    won_amount = tables.Column(
        verbose_name=_("Won amount"),
        order_by=("-won_amount", "rep_id"),
        attrs={"th": {"class": "num"}, "td": {"class": "num"}},
    )
    won_deals = _NumColumn(verbose_name=_("Won deals"), order_by=("-won_deals", "rep_id"))
    last_viewed_at = tables.DateColumn(
        verbose_name=_("Last view"), short=True, order_by=("-last_viewed_at", "rep_id")
    )
    moved = tables.Column(verbose_name=_("Moved"), empty_values=(), orderable=False)
    actions = tables.Column(
        verbose_name="", empty_values=(), orderable=False, attrs={"td": {"class": "actions"}}
    )

    class Meta(_Table.Meta):
        fields = ()
        # Rows are drawn by the template from the record (fast at 50 rows × 11 columns);
        # the columns above still give the headers, the sorting and the hiding.
        template_name = "tables/keymen_table.html"

    def __init__(self, *args, can_manage: bool = False, can_write: bool = False, **kwargs):
        self.can_manage, self.can_write = can_manage, can_write
        super().__init__(*args, **kwargs)
        if not (can_manage or can_write):
            self.columns.hide("actions")


class HearingTable(_Table):
    held_on = tables.DateColumn(
        verbose_name=_("Date"), short=True, linkify=("hearing-detail", {"pk": tables.A("pk")})
    )
    rep = tables.Column(verbose_name=_("Rep"), order_by=("rep__name", "pk"))
    partner = tables.Column(
        verbose_name=_("Partner"),
        accessor="rep__partner__name",
        order_by=("rep__partner__name", "pk"),
    )
    held_by = tables.Column(verbose_name=_("Held by"), order_by=("held_by__email", "pk"))
    sales_approach = tables.Column(verbose_name=_("Sales approach"), orderable=False)
    tags = tables.Column(verbose_name=_("Tags"), orderable=False)

    class Meta(_Table.Meta):
        fields = ()

    def render_rep(self, record):
        return format_html(
            '<a href="{}">{}</a>', reverse("rep-detail", args=[record.rep_id]), record.rep.name
        )

    def render_sales_approach(self, value):
        return value if len(value) <= 90 else value[:89] + "…"

    def render_tags(self, value):
        return format_html(
            "{}",
            format_html(
                " ".join(['<a class="badge" href="?tag={}">{}</a>'] * len(value)),
                *[x for tag in value for x in (tag, tag)],
            ),
        )


class RunTable(_Table):
    as_of = tables.DateTimeColumn(verbose_name=_("As of"), short=True)
    trigger = tables.Column(verbose_name=_("Trigger"))
    status = tables.Column(verbose_name=_("Status"))
    duration_ms = tables.Column(
        verbose_name=_("Duration"), attrs={"th": {"class": "num"}, "td": {"class": "num"}}
    )
    rep_count = _NumColumn(verbose_name=_("Reps"))
    active_rep_count = _NumColumn(verbose_name=_("Active reps"))
    keymen = tables.Column(verbose_name=_("Keyman ① / ②"), empty_values=(), orderable=False)
    requested_by = tables.Column(verbose_name=_("Requested by"), orderable=False)
    is_current = tables.BooleanColumn(verbose_name=_("Current"), orderable=False)

    class Meta(_Table.Meta):
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
