"""Tables of the hearing pages."""

from __future__ import annotations

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from pse_crm.tables import BaseTable


class HearingTable(BaseTable):
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

    class Meta(BaseTable.Meta):
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
