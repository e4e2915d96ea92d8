"""The cut-offs that split each axis into high and low, and how a run says which rule chose
them. Pure functions: the run (``services.segments``) decides with them, the pages and the
scatter describe a run's stored choice with them, so the two can never disagree.

**Views** (the median rule, the default): the median of the reps with at least one view in
the window, never below the *floor* (``views_floor``, default 3: the fewest views that count
as motivated). High means more than the median (and at least the floor). The floor decides
instead when no rep viewed anything, when the median is below it, or when no rep viewed
more than the median (all viewers tie): otherwise a median of mostly casual looks, or a
tie, would leave the cut-off at nothing or at everyone. With the threshold rule: at least
the threshold.

**Results** (the median rule): while fewer than ``results_median_min_reps`` reps have a
result above zero, any result is high; from that many on, more than the median of those
reps is, unless none of them has more than that median (all tie): then any result again.
With the threshold rule: at least the threshold (and above zero).

So "high" never collapses: someone with at least the floor's views is high on views, and
someone with a result above zero is high on results.

Every rule reads as ``value > above and value >= at_least`` in the run's SQL.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from pse_crm.templatetags.pse_ui import money, num
from segmentation.models import CutoffRule, SegmentationRun, SegmentationSettings

__all__ = [
    "AxisStats",
    "Cutoff",
    "choose_results_cutoff",
    "choose_views_cutoff",
    "cutoff_line",
    "cutoff_lines",
    "describe_results_cutoff",
    "describe_views_cutoff",
]

HighRule = SegmentationSettings.HighRule


@dataclass(frozen=True)
class AxisStats:
    """One axis over the run's reps: how many are above zero, their median and maximum."""

    n: int
    median: Decimal | None
    maximum: Decimal | None


@dataclass(frozen=True)
class Cutoff:
    """A chosen cut-off: high means ``value > above and value >= at_least``."""

    rule: str  # a CutoffRule value
    value: Decimal  # the cut-off as shown ("Views cut-off 31")
    n: int  # reps with any views / any results
    median: Decimal | None  # their median (None when there are none)
    above: float
    at_least: float


def choose_views_cutoff(*, config: SegmentationSettings, stats: AxisStats) -> Cutoff:
    """The views cut-off of a run (see the module docstring)."""
    if config.views_high_rule == HighRule.THRESHOLD:
        threshold = Decimal(config.views_threshold)
        return Cutoff(CutoffRule.THRESHOLD, threshold, stats.n, stats.median, 0.0, float(threshold))
    floor = Decimal(config.views_floor)
    median = stats.median
    if median is None or median < floor or stats.maximum is None or stats.maximum <= median:
        return Cutoff(CutoffRule.FLOOR, floor, stats.n, median, 0.0, float(floor))
    return Cutoff(CutoffRule.MEDIAN, median, stats.n, median, float(median), float(floor))


def choose_results_cutoff(*, config: SegmentationSettings, stats: AxisStats) -> Cutoff:
    """The results cut-off of a run (see the module docstring)."""
    if config.results_high_rule == HighRule.THRESHOLD:
        threshold = Decimal(config.results_threshold)
        return Cutoff(CutoffRule.THRESHOLD, threshold, stats.n, stats.median, 0.0, float(threshold))
    median = stats.median
    if (
        stats.n < config.results_median_min_reps
        or median is None
        or stats.maximum is None
        or stats.maximum <= median
    ):
        return Cutoff(CutoffRule.ANY, Decimal(0), stats.n, median, 0.0, 0.0)
    return Cutoff(CutoffRule.MEDIAN, median, stats.n, median, float(median), 0.0)


# --- how a stored run reads -------------------------------------------------------------


def _number(value: Decimal | float | int | None) -> str:
    if value is None:
        return "—"
    value = Decimal(str(value))
    return num(value, 0 if value == value.to_integral_value() else 1)


def _results_value(run: SegmentationRun, value: Decimal | None) -> str:
    if run.settings_used.get("results_measure") == SegmentationSettings.ResultsMeasure.WON_DEALS:
        return _number(value)
    return money(value)


def describe_views_cutoff(run: SegmentationRun) -> str:
    """One line: the views cut-off of ``run``, the rule that chose it and the n behind it."""
    n = run.views_cutoff_n or 0
    values = {
        "value": _number(run.views_cutoff),
        "n": _number(n),
        "median": _number(run.views_median),
    }
    rule = run.views_cutoff_rule
    if rule == CutoffRule.MEDIAN:
        text = ngettext(
            "Views cut-off %(value)s: the median of the %(n)s rep who viewed anything"
            " (more is high)",
            "Views cut-off %(value)s: the median of the %(n)s reps who viewed anything"
            " (more is high)",
            n,
        )
    elif rule == CutoffRule.FLOOR and not n:
        text = _(
            "Views cut-off %(value)s: the floor, the fewest views that count as motivated"
            " (no rep viewed anything)"
        )
    elif (
        rule == CutoffRule.FLOOR
        and run.views_median is not None
        and (run.views_median >= (run.views_cutoff or 0))
    ):
        text = ngettext(
            "Views cut-off %(value)s: the floor, the fewest views that count as motivated"
            " (the %(n)s rep who viewed anything did not view more than the median,"
            " %(median)s)",
            "Views cut-off %(value)s: the floor, the fewest views that count as motivated"
            " (none of the %(n)s reps who viewed anything viewed more than their median,"
            " %(median)s)",
            n,
        )
    elif rule == CutoffRule.FLOOR:
        text = ngettext(
            "Views cut-off %(value)s: the floor, the fewest views that count as motivated"
            " (the median of the %(n)s rep who viewed anything is %(median)s)",
            "Views cut-off %(value)s: the floor, the fewest views that count as motivated"
            " (the median of the %(n)s reps who viewed anything is %(median)s)",
            n,
        )
    elif rule == CutoffRule.THRESHOLD:
        text = ngettext(
            "Views cut-off %(value)s: the fixed threshold (%(value)s or more is high;"
            " %(n)s rep viewed anything)",
            "Views cut-off %(value)s: the fixed threshold (%(value)s or more is high;"
            " %(n)s reps viewed anything)",
            n,
        )
    elif run.views_cutoff is not None:  # a run made before the rules were recorded
        text = _("Views cut-off %(value)s")
    else:
        return ""
    return text % values


def describe_results_cutoff(run: SegmentationRun) -> str:
    """One line: the results cut-off of ``run``, the rule that chose it and the n behind it."""
    n = run.results_cutoff_n or 0
    values = {
        "value": _results_value(run, run.results_cutoff),
        "n": _number(n),
        "median": _results_value(run, run.results_median),
    }
    rule = run.results_cutoff_rule
    min_reps = int(run.settings_used.get("results_median_min_reps") or 0)
    if rule == CutoffRule.ANY and not n:
        text = _("Results cut-off: any win (no rep has won yet)")
    elif rule == CutoffRule.ANY and n < min_reps:
        text = ngettext(
            "Results cut-off: any win (only %(n)s rep won)",
            "Results cut-off: any win (only %(n)s reps won)",
            n,
        )
    elif rule == CutoffRule.ANY:
        text = ngettext(
            "Results cut-off: any win (the %(n)s rep who won did not win more than the"
            " median, %(median)s)",
            "Results cut-off: any win (none of the %(n)s reps who won won more than their"
            " median, %(median)s)",
            n,
        )
    elif rule == CutoffRule.MEDIAN:
        text = ngettext(
            "Results cut-off %(value)s: the median of the %(n)s rep who won (more is high)",
            "Results cut-off %(value)s: the median of the %(n)s reps who won (more is high)",
            n,
        )
    elif rule == CutoffRule.THRESHOLD:
        text = ngettext(
            "Results cut-off %(value)s: the fixed threshold (%(value)s or more is high;"
            " %(n)s rep won)",
            "Results cut-off %(value)s: the fixed threshold (%(value)s or more is high;"
            " %(n)s reps won)",
            n,
        )
    elif run.results_cutoff is not None:  # a run made before the rules were recorded
        text = _("Results cut-off %(value)s")
    else:
        return ""
    return text % values


def cutoff_line(
    *, rule: str, value: Decimal | float | None, whole: bool, smallest_high: float | None = None
) -> float | None:
    """Where the scatter draws a cut-off: between the low and the high values, never on
    the axis. ``whole``: the measure counts (views, won deals), so a line half-way between
    two counts separates them; ``smallest_high``: the smallest value above zero among the
    points (for "any result" on an amount, the line sits half-way to it). None: no line.
    """
    if value is None or not rule:
        return None
    value = float(value)
    if whole:
        if rule in (CutoffRule.FLOOR, CutoffRule.THRESHOLD):
            return value - 0.5  # high means at least the value
        return math.floor(value) + 0.5  # high means more than the value ("any": > 0)
    if rule == CutoffRule.ANY or value <= 0:
        return smallest_high / 2 if smallest_high else None
    return value


def cutoff_lines(run: SegmentationRun | None) -> list[str]:
    """The views and results cut-off lines of ``run`` (none before the first run)."""
    if run is None:
        return []
    return [line for line in (describe_views_cutoff(run), describe_results_cutoff(run)) if line]
