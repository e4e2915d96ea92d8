"""Where each rep falls: the axis statistics behind the cut-offs, the quadrant, the score
and the 2:6:2 tier inside the partner, in NumPy over the run's per-rep figures (step 1 of
the run, ``segments``). Pure functions of arrays: no database.

The figures arrive as integers, so every comparison is exact: views and won deals as
counts, a won amount in hundredths (``scale`` 100). A cut-off is compared in the same
integer units (``high``). The rules are the ones described in ``segments`` and
``segmentation/cutoffs.py``:

* **score**: 50 × (percent rank by views + percent rank by results), where a rep's percent
  rank is the share of the other reps strictly below it, ``below / (n − 1)`` (ties share
  the lowest rank, as ``PERCENT_RANK`` does; 0 for a single rep);
* **tiers** (per partner, by the tier measure, descending): top when the measure is above
  zero and its descending rank (one more than the reps above it) is at most ``n // 5``;
  else bottom when its ascending rank (one more than the reps below it) is at most
  ``n // 5``; else middle. Ties share a rank, so a tie at the top boundary goes up and
  one at the bottom boundary goes down. A partner with fewer than ``min_reps`` reps has no tiers.
"""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np

from segmentation.cutoffs import AxisStats, Cutoff
from segmentation.models import Quadrant, Tier
from segmentation.services.statistics import QUADRANT_CODES, TIER_CODES

__all__ = ["axis_stats", "high", "positions", "quadrants", "scores", "tiers"]

_FOUR_PLACES = Decimal("0.0001")


def _decimal(units: int, scale: int, halves: bool = False) -> Decimal:
    """``units / scale`` (halved with ``halves``), exact, to four places."""
    value = Decimal(units) / (Decimal(scale) * (2 if halves else 1))
    return value.quantize(_FOUR_PLACES)


def axis_stats(values: np.ndarray, scale: int = 1) -> AxisStats:
    """The reps above zero on one axis: how many, their median (the middle value, or the
    mean of the middle two) and their maximum, as the cut-offs are chosen from them.
    ``values`` are integers in units of ``1 / scale``."""
    positive = np.sort(values[values > 0])
    n = len(positive)
    if not n:
        return AxisStats(0, None, None)
    low, high_ = positive[(n - 1) // 2], positive[n // 2]
    return AxisStats(
        n, _decimal(int(low) + int(high_), scale, halves=True), _decimal(int(positive[-1]), scale)
    )


def high(values: np.ndarray, cutoff: Cutoff, scale: int = 1) -> np.ndarray:
    """ "High" on one axis: more than ``cutoff.above``, at least ``cutoff.at_least`` and
    more than zero, compared exactly in the integer units of ``values`` (``1 / scale``)."""
    above = Decimal(repr(cutoff.above)) * scale
    at_least = Decimal(repr(cutoff.at_least)) * scale
    # For integers: v > x  ⇔  v > floor(x), and v >= x  ⇔  v >= ceil(x).
    return (values > math.floor(above)) & (values >= math.ceil(at_least)) & (values > 0)


def quadrants(
    *, views_high: np.ndarray, results_high: np.ndarray, active: np.ndarray
) -> np.ndarray:
    """Each rep's quadrant code: both high, performer; views only, motivated; results
    only, independent; neither but active, casual; not active, dormant."""
    codes = np.full(len(active), QUADRANT_CODES[Quadrant.DORMANT], dtype=np.int8)
    codes[active] = QUADRANT_CODES[Quadrant.CASUAL]
    codes[results_high] = QUADRANT_CODES[Quadrant.INDEPENDENT]
    codes[views_high] = QUADRANT_CODES[Quadrant.MOTIVATED]
    codes[views_high & results_high] = QUADRANT_CODES[Quadrant.PERFORMER]
    return codes


def _below(values: np.ndarray) -> np.ndarray:
    """Per value, how many of ``values`` are strictly below it."""
    return np.searchsorted(np.sort(values), values, side="left")


def scores(views: np.ndarray, results: np.ndarray) -> np.ndarray:
    """50 × (percent rank by views + percent rank by results), as float64."""
    n = len(views)
    if n <= 1:
        return np.zeros(n)
    return (_below(views) / (n - 1) + _below(results) / (n - 1)) * 50.0


def positions(score: np.ndarray, rep: np.ndarray) -> np.ndarray:
    """Each rep's place, from 0, in the keymen list's default order: score highest first,
    then the lowest rep id, as PostgreSQL's ``ORDER BY score DESC, rep_id`` sorts the
    stored floats (NaN, which it puts above every number, first; 0.0 and -0.0 equal)."""
    key = np.where(np.isnan(score), -np.inf, -score)
    order = np.lexsort((rep, key))
    out = np.empty(len(order), dtype=np.int64)
    out[order] = np.arange(len(order))
    return out


def tiers(*, partner: np.ndarray, measure: np.ndarray, min_reps: int) -> np.ndarray:
    """Each rep's tier code inside its partner, by ``measure`` (see the module
    docstring): one sort by (partner, measure), no loop over partners."""
    count = len(partner)
    codes = np.full(count, TIER_CODES[None], dtype=np.int8)
    if not count:
        return codes
    order = np.lexsort((measure, partner))
    p, m = partner[order], measure[order]
    index = np.arange(count)
    group_start = np.r_[True, p[1:] != p[:-1]]
    tie_start = group_start | np.r_[True, m[1:] != m[:-1]]
    # Per sorted row: where its partner's rows and its ties begin and end (exclusive).
    group_first = np.maximum.accumulate(np.where(group_start, index, 0))
    group_end = np.r_[index[group_start][1:], count][np.cumsum(group_start) - 1]
    tie_first = np.maximum.accumulate(np.where(tie_start, index, 0))
    tie_end = np.r_[index[tie_start][1:], count][np.cumsum(tie_start) - 1]
    n = group_end - group_first
    fifth = n // 5
    above = group_end - tie_end  # reps above this one: its descending RANK() - 1
    below = tie_first - group_first  # reps below this one: its ascending RANK() - 1
    sorted_codes = np.where(
        (m > 0) & (above + 1 <= fifth),
        TIER_CODES[Tier.TOP],
        np.where(below + 1 <= fifth, TIER_CODES[Tier.BOTTOM], TIER_CODES[Tier.MIDDLE]),
    ).astype(np.int8)
    sorted_codes[n < min_reps] = TIER_CODES[None]
    codes[order] = sorted_codes
    return codes
