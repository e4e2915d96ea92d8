"""Spearman's ρ of the segmentation run (``segmentation.services.statistics``), against
SciPy's ``spearmanr`` and against itself one sample at a time. No database."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from segmentation.services.statistics import (
    MIN_REPS_FOR_STATISTICS,
    spearman,
    spearman_grouped,
)


@pytest.mark.parametrize("seed", range(3))
def test_spearman_matches_scipy_on_tied_figures(seed):
    rng = np.random.default_rng(seed)
    n = 40
    # Few distinct values, as views and won amounts are: many ties on both sides.
    xs = rng.integers(0, 6, n).astype(float)
    ys = rng.choice([0, 0, 0, 500, 1_000, 2_500], n).astype(float)

    result = spearman(xs, ys)

    expected = scipy_stats.spearmanr(xs, ys)
    assert result["n"] == n
    assert result["rho"] == pytest.approx(expected.statistic)
    assert result["p_value"] == pytest.approx(expected.pvalue)
    # 95% by Fisher's z with the Fieller–Hartley–Pearson variance 1.06 / (n − 3).
    half = 1.959963984540054 * math.sqrt(1.06 / (n - 3))
    z = math.atanh(expected.statistic)
    assert result["ci_low"] == pytest.approx(math.tanh(z - half))
    assert result["ci_high"] == pytest.approx(math.tanh(z + half))


def test_grouped_is_each_sample_alone_and_empty_without_enough_reps_or_spread():
    rng = np.random.default_rng(7)
    sizes = {0: 25, 1: MIN_REPS_FOR_STATISTICS - 1, 2: 12, 3: MIN_REPS_FOR_STATISTICS}
    codes = np.concatenate([np.full(size, code, dtype=np.int64) for code, size in sizes.items()])
    xs = rng.integers(0, 8, len(codes)).astype(float)
    ys = rng.integers(0, 5, len(codes)).astype(float)
    xs[codes == 2] = 3.0  # every rep of sample 2 has the same views: ρ is undefined
    order = rng.permutation(len(codes))  # the samples interleaved, as partners are
    codes, xs, ys = codes[order], xs[order], ys[order]

    results = spearman_grouped(codes, xs, ys, 5)  # sample 4 has no rep at all

    assert len(results) == 5
    for code in (0, 3):
        alone = spearman(xs[codes == code], ys[codes == code])
        assert alone is not None and alone["n"] == sizes[code]
        assert results[code] == pytest.approx(alone)
        assert results[code]["rho"] == pytest.approx(
            scipy_stats.spearmanr(xs[codes == code], ys[codes == code]).statistic
        )
    assert results[1] is None and results[2] is None and results[4] is None
    assert spearman_grouped(np.array([], dtype=np.int64), np.array([]), np.array([]), 2) == [
        None,
        None,
    ]
