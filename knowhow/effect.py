"""The effect of know-how on the reps it reached, against similar reps it did not reach.

Pure computation (no queries): ``knowhow.selectors.know_how_effect_inputs`` reads what it
needs in a fixed number of set-based queries and ``knowhow.services.know_how_effects_compute``
stores the result. Correlation, not causation.

The method, decided:

* **Units.** A reached rep is one unit per know-how, from the first share of it that
  reached them (day 0), as in ``know_how_reach``: a partner share reaches every rep of the
  partner, a rep share that rep. *Overall* (all know-how together) a rep is one unit, from
  the first share of any know-how that reached them.
* **Windows.** ``N`` days before (days -N..-1) and ``N`` days after (days 0..N-1), in the
  tenant's time zone. A unit is measured once its after-window has passed (day 0 + N is
  today or earlier); before that it is *waiting*.
* **Outcomes, per rep and window.** *Active*: at least one material view in the window.
  *Won*: at least one won deal (not deleted) closed in the window. A group's activation
  and win rate are the shares of its reps who were active and who won.
* **Comparison group (matching).** For each reached rep at day 0:

  1. the segmentation at the share time is the tenant's last succeeded run whose as-of
     day is on or before day 0; the rep must be segmented in it (else *not segmented*);
  2. candidates are the reps segmented in that run in **exactly the same quadrant and
     tier** (untiered matches untiered) who were reached by **no share of any know-how**
     up to the end of the after-window (not yet reached: they cannot carry the effect);
  3. among them, the **nearest in material views in the before-window**, within a caliper
     of ``max(CALIPER_VIEWS, CALIPER_SHARE × the reached rep's views)``; every candidate
     at the nearest distance is kept, each tied candidate weighted equally, the set
     weighing as one rep (no arbitrary tie-break, so the result is deterministic);
  4. with replacement: a comparison rep may serve several reached reps (it is counted
     once in ``comparison_reps``). No candidate within the caliper: *no comparison*.

* **Estimate.** Per matched unit, the change after minus before of the reached rep less
  the change of its comparison set; the difference in differences (DiD) is their mean. It
  equals (reached after − before) − (comparison after − before) over the matched units.
  The naive change (reached after − before, no comparison) is shown next to it.
* **Interval.** A percentile bootstrap (``scipy.stats.bootstrap``, ``BOOTSTRAP_RESAMPLES``
  resamples, 95%) that resamples the matched units and, independently, the comparison
  reps, recomputing each comparison set's change from the reps drawn (``_Comparison``):
  a few comparison reps serving many units widen the interval. Seeded from the tenant,
  the know-how and N, so the same data gives the same interval every night.
* **Too small.** Fewer than ``MIN_MATCHED`` matched reached reps or fewer than
  ``MIN_COMPARISON`` distinct comparison reps: no figure is shown, only the counts.

Limits (the docs say them to users): matching only balances what it matches on (quadrant,
tier, recent views), not why a partner was chosen for a share, nor partner-wide events
(a campaign at the reached partner); reps of a partner share are compared with reps of
other partners; a reached rep who is reached again by other know-how within the windows
carries both; shares older than the segmentation runs kept (``run_retention_days``) cannot
be matched any more; the bootstrap keeps the matching fixed and resamples reps, not
partners (reps of one partner move together), so the interval may still be too narrow.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
from django.utils.translation import gettext as _
from scipy import sparse
from scipy import stats as scipy_stats

DEFAULT_EFFECT_DAYS = 30
MIN_MATCHED = 10
MIN_COMPARISON = 10
CALIPER_VIEWS = 2
CALIPER_SHARE = 0.25
BOOTSTRAP_RESAMPLES = 4999
BOOTSTRAP_BATCH_VALUES = 4_000_000
CONFIDENCE = 0.95
METRICS = ("activation", "win_rate")

Stratum = tuple[str, str | None]  # (quadrant, tier)


class Activity:
    """Per rep: view counts per local day and the days of won deals; windows around a day."""

    def __init__(
        self,
        *,
        view_days: Iterable[tuple[int, dt.date, int]],
        win_days: Iterable[tuple[int, dt.date]],
        days: int,
    ) -> None:
        self.days = days
        views: dict[int, dict[dt.date, int]] = defaultdict(dict)
        for rep_id, day, count in view_days:
            views[rep_id][day] = views[rep_id].get(day, 0) + count
        self._view_days: dict[int, list[dt.date]] = {}
        self._view_sums: dict[int, list[int]] = {}  # running totals, for window sums
        for rep_id, counts in views.items():
            ordered = sorted(counts)
            self._view_days[rep_id] = ordered
            running, total = [0], 0
            for day in ordered:
                total += counts[day]
                running.append(total)
            self._view_sums[rep_id] = running
        wins: dict[int, set[dt.date]] = defaultdict(set)
        for rep_id, day in win_days:
            wins[rep_id].add(day)
        self._win_days = {rep_id: sorted(d) for rep_id, d in wins.items()}

    def _views(self, rep_id: int, start: dt.date, end: dt.date) -> int:
        """Views on days start..end-1."""
        ordered = self._view_days.get(rep_id)
        if not ordered:
            return 0
        sums = self._view_sums[rep_id]
        return sums[bisect.bisect_left(ordered, end)] - sums[bisect.bisect_left(ordered, start)]

    def _won(self, rep_id: int, start: dt.date, end: dt.date) -> bool:
        ordered = self._win_days.get(rep_id)
        if not ordered:
            return False
        i = bisect.bisect_left(ordered, start)
        return i < len(ordered) and ordered[i] < end

    def window(self, rep_id: int, day0: dt.date) -> tuple[int, int, int, int, int]:
        """(views before, active before, active after, won before, won after) as 0/1."""
        before = day0 - dt.timedelta(days=self.days)
        after = day0 + dt.timedelta(days=self.days)
        pre_views = self._views(rep_id, before, day0)
        return (
            pre_views,
            int(pre_views > 0),
            int(self._views(rep_id, day0, after) > 0),
            int(self._won(rep_id, before, day0)),
            int(self._won(rep_id, day0, after)),
        )


@dataclass
class _Pool:
    """The candidates of one day 0 and stratum, grouped by their views before day 0."""

    values: list[int] = field(default_factory=list)  # sorted distinct view counts
    # view count -> [reps, active before, active after, won before, won after]
    sums: dict[int, list[int]] = field(default_factory=dict)
    # view count -> [(rep id, active before, active after, won before, won after)]
    members: dict[int, list[tuple[int, int, int, int, int]]] = field(default_factory=dict)


@dataclass
class EffectInputs:
    """What the estimate reads, gathered by ``know_how_effect_inputs``."""

    days: int
    today: dt.date
    # know-how id -> rep id -> day 0 (the first share of that know-how reaching the rep)
    first_reach: Mapping[int, Mapping[int, dt.date]]
    # (as-of day, run id) of the succeeded segmentation runs, oldest first
    runs: list[tuple[dt.date, int]]
    # run id -> rep id -> (quadrant, tier)
    segments: Mapping[int, Mapping[int, Stratum]]
    activity: Activity
    first_any: dict[int, dt.date] = field(init=False)

    def __post_init__(self) -> None:
        first: dict[int, dt.date] = {}
        for reps in self.first_reach.values():
            for rep_id, day in reps.items():
                if rep_id not in first or day < first[rep_id]:
                    first[rep_id] = day
        self.first_any = first
        self._run_days = [day for day, _ in self.runs]
        self._pools: dict[dt.date, dict[Stratum, _Pool]] = {}

    def run_at(self, day0: dt.date) -> int | None:
        """The last succeeded run as of day 0 or earlier."""
        i = bisect.bisect_right(self._run_days, day0)
        return self.runs[i - 1][1] if i else None

    def measurable(self, day0: dt.date) -> bool:
        return day0 + dt.timedelta(days=self.days) <= self.today

    def pools(self, day0: dt.date) -> dict[Stratum, _Pool]:
        """The not-yet-reached reps segmented at day 0, by stratum (computed once per day)."""
        if day0 in self._pools:
            return self._pools[day0]
        out: dict[Stratum, _Pool] = defaultdict(_Pool)
        run_id = self.run_at(day0)
        end = day0 + dt.timedelta(days=self.days)
        for rep_id, stratum in (self.segments.get(run_id, {}) if run_id else {}).items():
            reached = self.first_any.get(rep_id)
            if reached is not None and reached < end:
                continue
            pre_views, *outcomes = self.activity.window(rep_id, day0)
            pool = out[stratum]
            row = pool.sums.get(pre_views)
            if row is None:
                row = pool.sums[pre_views] = [0, 0, 0, 0, 0]
                pool.members[pre_views] = []
            row[0] += 1
            for k, value in enumerate(outcomes, start=1):
                row[k] += value
            pool.members[pre_views].append((rep_id, *outcomes))
        for pool in out.values():
            pool.values = sorted(pool.sums)
        self._pools[day0] = dict(out)
        return self._pools[day0]


def caliper(views: int) -> float:
    return max(CALIPER_VIEWS, CALIPER_SHARE * views)


def _nearest(pool: _Pool, views: int) -> list[int]:
    """The candidates' view counts at the nearest distance within the caliper."""
    values = pool.values
    i = bisect.bisect_left(values, views)
    near = [values[j] for j in (i - 1, i) if 0 <= j < len(values)]
    if not near:
        return []
    best = min(abs(v - views) for v in near)
    if best > caliper(views):
        return []
    return sorted({v for v in near if abs(v - views) == best})


@dataclass
class Estimate:
    """What one know-how (or all of it) is stored with: counts, status and figures."""

    status: str
    reached: int = 0
    waiting: int = 0
    unmatched_segment: int = 0
    unmatched_comparison: int = 0
    matched: int = 0
    comparison_reps: int = 0
    metrics: dict = field(default_factory=dict)


def estimate(
    *, units: Mapping[int, dt.date], inputs: EffectInputs, seed: Iterable[int]
) -> Estimate:
    """The effect on ``units`` (rep id -> day 0); ``status`` is one of
    ``KnowHowEffect.Status`` (measured, too_small, waiting, no_shares)."""
    out = Estimate(status="no_shares", reached=len(units))
    if not units:
        return out
    treated: list[tuple[int, int, int, int]] = []
    control: list[tuple[float, float, float, float]] = []
    # Each matched unit's comparison set: the (day 0, stratum, views) groups it drew on.
    sets: list[tuple[tuple[dt.date, Stratum, int], ...]] = []
    for rep_id, day0 in sorted(units.items()):
        if not inputs.measurable(day0):
            out.waiting += 1
            continue
        run_id = inputs.run_at(day0)
        stratum = inputs.segments.get(run_id, {}).get(rep_id) if run_id else None
        if stratum is None:
            out.unmatched_segment += 1
            continue
        pre_views, *outcomes = inputs.activity.window(rep_id, day0)
        pool = inputs.pools(day0).get(stratum)
        keys = _nearest(pool, pre_views) if pool else []
        if not keys:
            out.unmatched_comparison += 1
            continue
        sums = [sum(pool.sums[k][j] for k in keys) for j in range(5)]
        treated.append(tuple(outcomes))
        control.append(tuple(s / sums[0] for s in sums[1:]))
        sets.append(tuple((day0, stratum, k) for k in keys))
    out.matched = len(treated)
    comparison = _Comparison(inputs, sets)
    out.comparison_reps = comparison.reps
    if out.matched >= MIN_MATCHED and out.comparison_reps >= MIN_COMPARISON:
        out.status = "measured"
        out.metrics = _figures(
            np.array(treated, float), np.array(control, float), comparison, list(seed)
        )
    else:
        out.status = "waiting" if out.waiting else "too_small"
    return out


class _Comparison:
    """The comparison reps behind the matched units, for resampling them too.

    A unit's comparison set is one or two (day 0, stratum, views) groups; a rep may sit in
    several groups (several days 0), with its outcomes around each. Per metric, ``delta``
    (reps × groups) holds each member's change after minus before and ``member`` (reps ×
    groups) its membership; ``in_set`` (groups × sets) maps groups to the units' sets.
    """

    def __init__(self, inputs: EffectInputs, sets: list[tuple]) -> None:
        groups: dict[tuple, int] = {}
        set_ids: dict[tuple, int] = {}
        self.unit_set = np.array(
            [set_ids.setdefault(keys, len(set_ids)) for keys in sets], dtype=np.intp
        )
        for keys in set_ids:
            for key in keys:
                groups.setdefault(key, len(groups))
        reps: dict[int, int] = {}
        rows, cols, act, won = [], [], [], []
        for (day0, stratum, k), g in groups.items():
            for rep_id, act_before, act_after, won_before, won_after in inputs.pools(day0)[
                stratum
            ].members[k]:
                rows.append(reps.setdefault(rep_id, len(reps)))
                cols.append(g)
                act.append(act_after - act_before)
                won.append(won_after - won_before)
        self.reps = len(reps)
        shape = (len(reps), len(groups))
        self.member = sparse.csr_array((np.ones(len(rows)), (rows, cols)), shape=shape)
        self.values = [np.array(v, float) for v in (act, won)]
        self.delta = [sparse.csr_array((v, (rows, cols)), shape=shape) for v in self.values]
        g_rows = [groups[key] for keys in set_ids for key in keys]
        g_cols = [i for i, keys in enumerate(set_ids) for _ in keys]
        self.in_set = sparse.csr_array(
            (np.ones(len(g_rows)), (g_rows, g_cols)), shape=(len(groups), len(set_ids))
        )

    def set_changes(self, metric: int, weights: np.ndarray) -> np.ndarray:
        """Per resample (rows of ``weights``: each comparison rep's multiplicity) and set:
        the weighted mean change of the set's members; NaN for a set left empty."""
        totals = (self.delta[metric].T @ weights.T).T  # resamples × groups
        counts = (self.member.T @ weights.T).T
        totals, counts = (self.in_set.T @ totals.T).T, (self.in_set.T @ counts.T).T
        with np.errstate(invalid="ignore", divide="ignore"):
            return totals / counts


def _interval(
    treated_change: np.ndarray, observed: np.ndarray, comparison: _Comparison, metric: int, seed
) -> tuple[float, float]:
    """The percentile bootstrap of the DiD, resampling the matched reached reps and, apart,
    the comparison reps (so a comparison rep reused by many units weighs in the interval).
    A set whose members a resample leaves out keeps its observed change."""
    n_reps = comparison.reps

    def did(units: np.ndarray, reps: np.ndarray, axis: int = -1) -> np.ndarray:
        if units.ndim == 1:
            return did(units[None, :], reps[None, :])[0]
        offsets = np.arange(reps.shape[0])[:, None] * n_reps
        weights = np.bincount((reps + offsets).ravel(), minlength=reps.shape[0] * n_reps)
        weights = weights.reshape(reps.shape[0], n_reps).astype(float)
        changes = comparison.set_changes(metric, weights)
        sets = comparison.unit_set[units]
        control = np.take_along_axis(changes, sets, axis=1)
        control = np.where(np.isnan(control), observed[units], control)
        return (treated_change[units] - control).mean(axis=-1)

    units = np.arange(len(treated_change))
    point = float((treated_change - observed).mean())
    values = comparison.values[metric]
    if np.ptp(treated_change) == 0 and (values.size == 0 or np.ptp(values) == 0):
        # Every reached rep changed alike and every comparison rep too: nothing to resample.
        return point, point
    result = scipy_stats.bootstrap(
        (units, np.arange(n_reps)),
        did,
        n_resamples=BOOTSTRAP_RESAMPLES,
        confidence_level=CONFIDENCE,
        method="percentile",
        vectorized=True,
        # Resamples per batch: about 4 million values in memory at a time, whatever n.
        batch=max(1, BOOTSTRAP_BATCH_VALUES // (len(units) + n_reps)),
        rng=np.random.default_rng(list(seed)),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def _figures(
    treated: np.ndarray, control: np.ndarray, comparison: _Comparison, seed: list[int]
) -> dict:
    figures = {}
    for k, name in enumerate(METRICS):
        before, after = 2 * k, 2 * k + 1
        treated_change = treated[:, after] - treated[:, before]
        observed = control[:, after] - control[:, before]
        diffs = treated_change - observed
        low, high = _interval(treated_change, observed, comparison, k, [*seed, k])
        reached_before, reached_after = treated[:, before].mean(), treated[:, after].mean()
        figures[name] = {
            "reached_before": _round(reached_before),
            "reached_after": _round(reached_after),
            "comparison_before": _round(control[:, before].mean()),
            "comparison_after": _round(control[:, after].mean()),
            "naive": _round(reached_after - reached_before),
            "did": _round(diffs.mean()),
            "ci_low": _round(low),
            "ci_high": _round(high),
        }
    return figures


def _round(value: float) -> float | None:
    value = float(value)
    return None if math.isnan(value) else round(value, 4)


# --- words shared by the page and the API ------------------------------------------------

NOT_COMPUTED = "not_computed"


def matching_rule(days: int = DEFAULT_EFFECT_DAYS) -> str:
    """The matching rule in one sentence (the page and the API show it)."""
    return _(
        "Compared with reps no know-how had reached yet, in the same quadrant and tier at "
        "the share time and nearest in material views in the %(days)d days before (at most "
        "%(views)d views or %(share)d%% of the reached rep's views apart, whichever is more; "
        "equally near reps weighted equally; a comparison rep may serve several reached reps)."
    ) % {"days": days, "views": CALIPER_VIEWS, "share": round(CALIPER_SHARE * 100)}


def status_message(status: str, *, days: int = DEFAULT_EFFECT_DAYS) -> str:
    """Why there is no figure (empty when measured)."""
    if status == "too_small":
        return _(
            "Too few reps to measure: at least %(reached)d matched reps reached and "
            "%(comparison)d comparison reps are needed."
        ) % {"reached": MIN_MATCHED, "comparison": MIN_COMPARISON}
    if status == "waiting":
        return _(
            "Not measured yet: the %(days)d days after the shares have not passed for enough reps."
        ) % {"days": days}
    if status == "no_shares":
        return _("Not shared yet.")
    if status == NOT_COMPUTED:
        return _("Not computed yet: the effect is measured every night.")
    return ""
