"""The base of every django-tables2 table, and the deferred-join queryset that pages a
large list without COUNT(*)."""

from __future__ import annotations

import django_tables2 as tables
from django.db import connection
from django.db.models import Count, F, OrderBy, Q, QuerySet
from django.utils.translation import gettext_lazy as _

from pse_crm.templatetags.pse_ui import num

TEMPLATE = "tables/table.html"


def _paths(tree: dict, prefix: str = "") -> list[str]:
    """select_related's nested dict as lookup paths: {"rep": {"partner": {}}} → rep__partner."""
    out = []
    for name, sub in tree.items():
        out.extend(_paths(sub, f"{prefix}{name}__") if sub else [f"{prefix}{name}"])
    return out


def _ordered_field(term) -> str | None:
    """The field (or annotation) an ordering term sorts by: ``"-views"``, or
    ``F("views").desc(nulls_last=True)``; None for any other expression."""
    if isinstance(term, str):
        return term.lstrip("-")
    if isinstance(term, OrderBy) and isinstance(term.expression, F):
        return term.expression.name
    return None


class DeferredJoinQuerySet(QuerySet):
    """A queryset whose slices are fetched in two steps: first the page's ids, ordered and
    offset without any join but those the ordering needs; then those rows with their
    related rows. Sorting 50,000 narrow rows is cheap; sorting them joined to reps and
    partners is not.

    With a ``superset`` (``wrap``), a slice ending within the first ``SUPERSET_ROWS`` rows
    (pages 1-19 of 50 with a ``LazyPaginator``, which asks for one row more) is first
    taken from the superset, whose sort the database can bound to those rows (a filter on
    a joined table sits above the sort, so the query itself must sort every row). When all
    of the superset's first rows, in the same order, belong to this queryset, they are its
    first rows too; otherwise the slice is read from this queryset as usual. On page 1
    this costs no extra query when it holds (the rows fetched in the second step are
    fetched through this queryset, so their number is the check), one ``COUNT`` on later
    pages; when it fails, the page costs the two or three wasted queries.

    The caller vouches that the superset holds every row of this queryset, with the same
    annotations and without ``distinct``; ``wrap`` checks only the model. The fast path
    is taken only for an explicit ordering by fields (names, ``-`` names or ``F(...)``
    ordered, ending with a unique tie-break, as the tables' columns and the default
    orders do), never for another expression, a random order, ``distinct`` or ``extra``
    ordering: those are read as usual.
    """

    SUPERSET_ROWS = 1000

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._superset: QuerySet | None = None
        self._leading: tuple[tuple, QuerySet, int, bool] | None = None
        self._numbered_by: str | None = None

    def _clone(self):
        clone = super()._clone()
        clone._superset = self._superset
        clone._leading = self._leading
        clone._numbered_by = self._numbered_by
        return clone

    def __getitem__(self, k):
        related = self.query.select_related
        if not isinstance(k, slice) or self._result_cache is not None or not related:
            return super().__getitem__(k)
        rows = self._slice_by_number(k)
        if rows is None:
            rows = self._slice_from_superset(k)
        if rows is not None:
            return rows
        ids = list(self.select_related(None).values_list("pk", flat=True)[k])
        return self._rows(self.model._default_manager.filter(pk__in=ids), ids)

    def _rows(self, qs: QuerySet, ids: list) -> list:
        """The rows of ``ids`` read through ``qs``, with their related rows, in that order."""
        related = self.query.select_related
        if isinstance(related, dict):
            qs = qs.select_related(*_paths(related))
        by_pk = {row.pk: row for row in qs}
        return [by_pk[pk] for pk in ids if pk in by_pk]

    def _slice_by_number(self, k: slice) -> list | None:
        """Slice ``k`` of a queryset whose rows ``numbered_by`` numbers (``wrap``), in
        that order: the rows numbered ``start`` to ``stop - 1``, read in one pass over the
        rows with no sort, or None when they cannot be (another order, not PostgreSQL, or
        numbers missing since: a row deleted).

        One aggregate gives how many rows are numbered below ``start``, how many there
        are, and the ids numbered ``start``..``stop - 1`` in order. The numbers are
        distinct whole numbers from 0, so ``start`` of them below ``start`` are 0 to
        ``start - 1``, all there; and as many ids as the slice can hold (up to the last
        row) are the next numbers, all there: exactly the slice the sort would give."""
        field = self._numbered_by
        start, stop = k.start or 0, k.stop
        if field is None or connection.vendor != "postgresql" or k.step is not None:
            return None
        if stop is None or start < 0 or stop <= start:
            return None
        order = tuple(self.query.order_by)
        if order != (field,) or not self.query.standard_ordering or self.query.distinct:
            return None  # another order, reversed, or distinct rows
        from django.contrib.postgres.aggregates import ArrayAgg

        found = (
            self.select_related(None)
            .order_by()
            .aggregate(
                before=Count("pk", filter=Q(**{f"{field}__lt": start})),
                total=Count("*"),
                ids=ArrayAgg(
                    "pk",
                    filter=Q(**{f"{field}__gte": start, f"{field}__lt": stop}),
                    order_by=field,
                    default=[],
                ),
            )
        )
        ids = found["ids"]
        if found["before"] != start or len(ids) != max(0, min(stop, found["total"]) - start):
            return None
        return self._rows(self.model._default_manager.filter(pk__in=ids), ids)

    def _slice_from_superset(self, k: slice) -> list | None:
        """Slice ``k`` from the superset's first rows, or None when it cannot be."""
        start, stop = k.start or 0, k.stop
        if self._superset is None or k.step is not None or stop is None:
            return None
        if start < 0 or stop > self.SUPERSET_ROWS:
            return None
        order = self.query.order_by
        superset, expected = self._superset, None
        if self._leading is not None:
            leading_order, leading, held, complete = self._leading
            if tuple(order) == tuple(leading_order) and (stop <= held or complete):
                superset, expected = leading, min(stop, held)
        names = [_ordered_field(term) for term in order]
        if not names or None in names or "?" in names:
            return None  # an expression or a random order: read as usual
        if self.query.extra_order_by or self.query.distinct:
            return None
        if any(n in self.query.annotations and n not in superset.query.annotations for n in names):
            return None
        superset = superset.select_related(None).order_by(*order)
        if superset.query.distinct:
            return None
        # The direction of this queryset, whatever the superset's own was.
        superset.query.standard_ordering = self.query.standard_ordering
        first = list(superset.values_list("pk", flat=True)[:stop])
        if expected is not None and len(first) != expected:
            return None  # the leading rows are not all there (a row deleted since)
        mine = self.order_by().filter(pk__in=first)
        if start == 0:
            rows = self._rows(mine, first)
            return rows if len(rows) == len(first) else None
        # Distinct ids: a row repeated by a join must not stand in for a missing one.
        if mine.select_related(None).values("pk").distinct().count() != len(set(first)):
            return None
        page = first[start:stop]
        return self._rows(self.model._default_manager.filter(pk__in=page), page)

    @classmethod
    def wrap(
        cls,
        qs: QuerySet,
        *,
        superset: QuerySet | None = None,
        leading: tuple[tuple, QuerySet, int, bool] | None = None,
        numbered_by: str | None = None,
    ) -> DeferredJoinQuerySet:
        """``leading``: ``(order, rows, held, complete)``, the superset's first ``held``
        rows in ``order`` as a queryset of those rows only (all of the superset's rows
        when ``complete``; the caller vouches, as for the superset). A slice in that order
        ending within them is read from them instead of the superset, so the database
        reads those rows, not every row of the superset; if fewer are there than vouched
        for, as usual.

        ``numbered_by``: a field that numbers this queryset's rows in its order by that
        field, distinct whole numbers from 0 (the caller vouches; rows may be gone since):
        a slice in that order is read by the numbers (``_slice_by_number``)."""
        wrapped = cls(model=qs.model, query=qs.query.chain(), using=qs.db)
        if superset is not None and superset.model is not qs.model:
            raise TypeError("the superset must be of the same model")
        if leading is not None and (superset is None or leading[1].model is not qs.model):
            raise TypeError("leading rows need a superset, and of the same model")
        wrapped._superset = superset
        wrapped._leading = leading
        wrapped._numbered_by = numbered_by
        return wrapped


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
