"""The statistics of a segmentation run: the sample it wrote, its counts and Spearman's ρ.

``Sample`` holds the rep segments a run wrote as NumPy columns (``segments`` computes the
quadrants, scores and tiers in these columns before writing them: no read back), for the
run's counts and cut-offs (``summarise``) and the partner figures (``segments``).

Views × results is measured by Spearman's ρ, vectorised with NumPy/SciPy over the tenant
and each partner at once (``spearman_grouped``). Correlation, not causation.

Edge cases, decided:

* **Statistics** (tenant and each partner) need at least 10 reps and some spread on both
  axes; otherwise they are empty. The 95% interval uses Fisher's z with the
  Fieller–Hartley–Pearson variance 1.06 / (n − 3).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

from segmentation.cutoffs import Cutoff
from segmentation.models import PartnerSegment, Quadrant, SegmentationRun, Tier

__all__ = [
    "MIN_REPS_FOR_STATISTICS",
    "QUADRANT_CODES",
    "TIER_CODES",
    "Sample",
    "spearman",
    "spearman_grouped",
    "summarise",
]

MIN_REPS_FOR_STATISTICS = 10

# The codes a ``Sample`` holds: the index in ``Quadrant.values`` / ``Tier.values``; -1 for
# no tier.
QUADRANT_CODES = {quadrant: code for code, quadrant in enumerate(Quadrant.values)}
TIER_CODES = {None: -1} | {tier: code for code, tier in enumerate(Tier.values)}


@dataclass(frozen=True)
class Sample:
    """The run's rep segments as NumPy columns, for the statistics and partner figures."""

    partner: np.ndarray  # partner id (int64)
    views: np.ndarray  # float64
    results: np.ndarray  # float64: won amount or won deals, as the run measured them
    active: np.ndarray  # bool
    quadrant: np.ndarray  # int8: the index of the quadrant in ``Quadrant.values``
    tier: np.ndarray  # int8: the index of the tier in ``Tier.values``; -1 for none
    won_deals: np.ndarray  # int64
    won_cents: np.ndarray  # int64: the won amount in hundredths, exact
    rep: np.ndarray  # rep id (int64)
    position: np.ndarray  # int64: the place in the run's default order (RepSegment.position)
    last_view: np.ndarray  # float64: the last view in seconds since 1970; NaN for none

    def quadrant_is(self, quadrant: str) -> np.ndarray:
        return self.quadrant == QUADRANT_CODES[quadrant]

    def tier_is(self, tier: str | None) -> np.ndarray:
        return self.tier == TIER_CODES[tier]


def _apply_correlation(obj: SegmentationRun | PartnerSegment, result: dict | None) -> None:
    result = result or {}
    obj.correlation_n = result.get("n")
    obj.correlation_rho = result.get("rho")
    obj.correlation_p_value = result.get("p_value")
    obj.correlation_ci_low = result.get("ci_low")
    obj.correlation_ci_high = result.get("ci_high")


def spearman(xs: Sequence[float] | np.ndarray, ys: Sequence[float] | np.ndarray) -> dict | None:
    """Spearman's ρ of two equal-length samples with its p-value and a 95% interval.

    ``None`` with fewer than ``MIN_REPS_FOR_STATISTICS`` values or when either side is
    constant (ρ is undefined). Correlation, not causation.
    """
    xs_, ys_ = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    return spearman_grouped(np.zeros(len(xs_), dtype=np.int64), xs_, ys_, 1)[0]


def spearman_grouped(
    codes: np.ndarray, xs: np.ndarray, ys: np.ndarray, groups: int
) -> list[dict | None]:
    """``spearman`` for many samples at once: sample ``codes[i]`` (0 … ``groups`` − 1)
    holds the pair ``(xs[i], ys[i])``; returns one result (or ``None``) per sample.

    ρ is Pearson's r of the average ranks (ties share the mean rank), the two-sided
    p-value comes from Student's t with n − 2 degrees of freedom (as SciPy's
    ``spearmanr``), and the 95% interval from Fisher's z with the Fieller–Hartley–Pearson
    standard error √(1.06 / (n − 3)). Vectorised over all samples: ranks by one sort,
    sums by ``bincount`` (a thousand partners cost milliseconds, not a SciPy call each).
    """
    if groups == 0:
        return []
    if len(codes) == 0:
        return [None] * groups
    sizes = np.bincount(codes, minlength=groups)
    rx, distinct_x = _ranks_by_group(codes, xs, groups)
    ry, distinct_y = _ranks_by_group(codes, ys, groups)
    rx -= (np.bincount(codes, weights=rx, minlength=groups) / np.maximum(sizes, 1))[codes]
    ry -= (np.bincount(codes, weights=ry, minlength=groups) / np.maximum(sizes, 1))[codes]
    sxy = np.bincount(codes, weights=rx * ry, minlength=groups)
    sxx = np.bincount(codes, weights=rx * rx, minlength=groups)
    syy = np.bincount(codes, weights=ry * ry, minlength=groups)
    usable = (sizes >= MIN_REPS_FOR_STATISTICS) & (distinct_x >= 2) & (distinct_y >= 2)
    n = sizes.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.clip(sxy / np.sqrt(sxx * syy), -1.0, 1.0)
        t = rho * np.sqrt((n - 2) / ((1.0 - rho) * (1.0 + rho)))
        p_values = 2 * scipy_stats.t.sf(np.abs(t), n - 2)
        half = 1.959963984540054 * np.sqrt(1.06 / (n - 3))
    z = np.arctanh(np.clip(np.nan_to_num(rho), -0.999999, 0.999999))
    lows, highs = np.tanh(z - half), np.tanh(z + half)
    return [
        {
            "n": int(sizes[i]),
            "rho": float(rho[i]),
            "p_value": float(p_values[i]),
            "ci_low": float(lows[i]),
            "ci_high": float(highs[i]),
        }
        if usable[i]
        else None
        for i in range(groups)
    ]


def _ranks_by_group(codes: np.ndarray, values: np.ndarray, groups: int) -> tuple:
    """Average ranks (1-based, ties share the mean) within each group, in input order,
    and the number of distinct values per group. Sort-based, no loop over groups."""
    order = np.lexsort((values, codes))
    g, v = codes[order], values[order]
    idx = np.arange(len(v))
    group_start = np.r_[True, g[1:] != g[:-1]]
    position = idx - np.maximum.accumulate(np.where(group_start, idx, 0)) + 1.0
    tie_start = group_start | np.r_[True, v[1:] != v[:-1]]
    tie = np.cumsum(tie_start) - 1
    mean_position = np.bincount(tie, weights=position) / np.bincount(tie)
    ranks = np.empty(len(v))
    ranks[order] = mean_position[tie]
    return ranks, np.bincount(g[tie_start], minlength=groups)


def summarise(
    *,
    run: SegmentationRun,
    sample: Sample,
    views_cutoff: Cutoff,
    results_cutoff: Cutoff,
    days_to_first_performer: Sequence[int] = (),
) -> None:
    """Step 2 of the run: counts, the cut-offs used (value, rule, n and median), the
    first-performer playbook's figures and the tenant's statistics, onto ``run`` (saved
    by the caller)."""
    run.rep_count = len(sample.views)
    run.active_rep_count = int(sample.active.sum())
    run.quadrant_counts = {q: int(sample.quadrant_is(q).sum()) for q in Quadrant.values}
    run.tier_counts = {t: int(sample.tier_is(t).sum()) for t in Tier.values}
    run.tier_counts["untiered"] = int(sample.tier_is(None).sum())

    run.views_cutoff = views_cutoff.value
    run.views_cutoff_rule = views_cutoff.rule
    run.views_cutoff_n = views_cutoff.n
    run.views_median = views_cutoff.median
    run.results_cutoff = results_cutoff.value
    run.results_cutoff_rule = results_cutoff.rule
    run.results_cutoff_n = results_cutoff.n
    run.results_median = results_cutoff.median

    partners_with_performer = np.unique(sample.partner[sample.quadrant_is(Quadrant.PERFORMER)])
    run.partners_without_performer = len(np.unique(sample.partner)) - len(partners_with_performer)
    run.first_performer_partners = len(days_to_first_performer)
    run.first_performer_median_days = (
        float(np.median(days_to_first_performer)) if len(days_to_first_performer) else None
    )
    _apply_correlation(run, spearman(sample.views, sample.results))
