"""The base of every django-tables2 table, and the deferred-join queryset that pages a
large list without COUNT(*)."""

from __future__ import annotations

import django_tables2 as tables
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from pse_crm.templatetags.pse_ui import num

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


class BaseTable(tables.Table):
    class Meta:
        template_name = TEMPLATE
        attrs = {"class": "data"}
        order_by_field = "sort"
        page_field = "page"
        empty_text = _("Nothing matches.")


class NumColumn(tables.Column):
    def __init__(self, *args, digits: int = 0, **kwargs):
        self.digits = digits
        kwargs.setdefault("attrs", {"th": {"class": "num"}, "td": {"class": "num"}})
        super().__init__(*args, **kwargs)

    def render(self, value):
        return num(value, self.digits)
