"""Calendar periods of partner totals: whole months and whole quarters.

A calendar quarter starts in January, April, July or October. Two periods of one
granularity are either the same period or disjoint, which is what lets a partner total be
upserted by (partner, granularity, period start) with no overlap possible.
"""

from __future__ import annotations

import calendar
import datetime as dt

from django.utils.translation import gettext as _

MONTH = "month"
QUARTER = "quarter"


class PeriodError(ValueError):
    """A period that is not a whole calendar month or quarter."""


def _month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def period_of(day: dt.date, granularity: str) -> tuple[dt.date, dt.date]:
    """The calendar month or quarter holding ``day``: (first day, last day)."""
    if granularity == MONTH:
        return day.replace(day=1), _month_end(day.year, day.month)
    first_month = 3 * ((day.month - 1) // 3) + 1
    return dt.date(day.year, first_month, 1), _month_end(day.year, first_month + 2)


def period_shift(start: dt.date, granularity: str, periods: int) -> tuple[dt.date, dt.date]:
    """The period ``periods`` periods after the one starting on ``start`` (negative: before)."""
    months = periods * (1 if granularity == MONTH else 3)
    index = start.year * 12 + start.month - 1 + months
    return period_of(dt.date(index // 12, index % 12 + 1, 1), granularity)


def period_granularity(start: dt.date, end: dt.date) -> str:
    """``month`` or ``quarter`` for a whole calendar period; ``PeriodError`` otherwise."""
    if end < start:
        raise PeriodError(_("The period ends before it starts."))
    for granularity in (MONTH, QUARTER):
        if period_of(start, granularity) == (start, end):
            return granularity
    raise PeriodError(
        _(
            "The period must be a whole calendar month (the 1st to the last day of one month)"
            " or a whole calendar quarter (January–March, April–June, July–September or"
            " October–December)."
        )
    )


def periods_between(
    first: dt.date, last: dt.date, granularity: str
) -> list[tuple[dt.date, dt.date]]:
    """Every period of ``granularity`` that meets [``first``, ``last``], oldest first."""
    out = []
    start, end = period_of(first, granularity)
    while start <= last:
        out.append((start, end))
        start, end = period_shift(start, granularity, 1)
    return out


def period_label(start: dt.date, granularity: str) -> str:
    """``2026 Q3`` or ``2026-07``: short, the same in every language."""
    if granularity == MONTH:
        return f"{start.year}-{start.month:02d}"
    return f"{start.year} Q{(start.month - 1) // 3 + 1}"
