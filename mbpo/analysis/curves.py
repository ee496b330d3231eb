"""Learning curves across seeds: common step grids, IQM curves with bootstrap bands, sample efficiency.

A learning curve is read as piecewise linear between evaluations. Seeds are put on one step grid by
interpolation (never extrapolation), then the IQM is taken across seeds at every step, as the table's
final scores are. Shapes: a curve matrix is ``(seeds, steps)``; batched versions carry a leading axis.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.stats

from mbpo.analysis.bootstrap import bootstrap_strata, check_ci_args, percentile_interval
from mbpo.analysis.estimators import check_finite

__all__ = [
    "SampleEfficiency",
    "bands_separate",
    "curve_band",
    "first_crossing",
    "iqm_curve",
    "sample_efficiency",
    "seed_matrix",
    "steps_to_reach",
]


def _check_steps(steps: np.ndarray) -> np.ndarray:
    s = np.asarray(steps, dtype=float)
    if s.ndim != 1 or s.size == 0:
        raise ValueError(f"steps must be a non-empty 1-D array, got shape {s.shape}")
    check_finite(s, "steps")
    if np.any(np.diff(s) <= 0):
        raise ValueError("steps must be strictly increasing")
    return s


def steps_to_reach(steps: np.ndarray, values: np.ndarray, threshold: float) -> float | None:
    """First env step at which a learning curve reaches ``threshold``, or None if it never does.

    The crossing is interpolated between the last point below and the first point at/above the
    threshold (evaluations are sparse; snapping to the next evaluation would overstate the steps needed
    by up to one eval interval).

    Shapes: ``steps`` (k,) strictly increasing, ``values`` (k,).
    """
    v = np.asarray(values, dtype=float)
    if np.shape(steps) != v.shape:
        raise ValueError(f"steps and values must have equal shapes ({np.shape(steps)}, {v.shape})")
    s = _check_steps(steps)
    check_finite(v, "values")
    if not np.isfinite(threshold):
        raise ValueError(f"threshold must be finite, got {threshold}")
    out = float(first_crossing(s, v, np.asarray(threshold)))
    return None if np.isnan(out) else out


def first_crossing(steps: np.ndarray, curves: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Vectorized ``steps_to_reach``: NaN where a curve never reaches its threshold.

    Shapes: ``steps`` (k,), ``curves`` (..., k), ``thresholds`` (...) -> (...).
    """
    s = np.asarray(steps, dtype=float)
    v = np.asarray(curves, dtype=float)
    t = np.asarray(thresholds, dtype=float)[..., None]
    hit = v >= t
    i = hit.argmax(axis=-1)[..., None]  # the first evaluation at/above the threshold (0 if none)
    prev = np.maximum(i - 1, 0)
    v0, v1 = np.take_along_axis(v, prev, -1), np.take_along_axis(v, i, -1)
    s0, s1 = s[prev], s[i]
    with np.errstate(divide="ignore", invalid="ignore"):  # i == 0: v0 == v1, handled below
        crossed = s0 + (t - v0) * (s1 - s0) / (v1 - v0)
    out = np.where(i == 0, s[0], crossed)[..., 0]
    return np.where(hit.any(axis=-1), out, np.nan)


def seed_matrix(
    curves: pd.DataFrame, value: str = "return", step_grid: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One group's curves as a (seeds, steps) matrix on a common grid.

    Seeds are evaluated at different steps (eval intervals, resumed jobs), so each seed's curve is
    interpolated onto the grid. Default grid: the union of all evaluation steps inside the range every
    seed covers, so the matrix is complete. With an explicit ``step_grid``, entries outside a seed's
    own range are NaN. Repeated evaluations at one step are averaged.

    Args:
        curves: tidy rows ``seed, env_step, <value>`` of one (env, algo, variant).

    Returns:
        ``(grid (k,), matrix (seeds, k), seeds (seeds,))``.
    """
    missing = {"seed", "env_step", value} - set(curves.columns)
    if missing:
        raise ValueError(f"curves is missing columns {sorted(missing)}")
    if curves.empty:
        raise ValueError("curves is empty")
    check_finite(curves[value].to_numpy(dtype=float), f"curves[{value!r}]")
    check_finite(curves["env_step"].to_numpy(dtype=float), "curves['env_step']")
    agg = curves.groupby(["seed", "env_step"], sort=True)[value].mean()
    seeds = agg.index.get_level_values("seed").unique().to_numpy()
    per_seed = [
        (g.index.get_level_values("env_step").to_numpy(dtype=float), g.to_numpy(dtype=float))
        for _, g in agg.groupby(level="seed", sort=True)
    ]
    if step_grid is None:
        lo = max(s[0] for s, _ in per_seed)
        hi = min(s[-1] for s, _ in per_seed)
        if lo > hi:
            raise ValueError(f"seeds' step ranges do not overlap (latest start {lo:g} > earliest end {hi:g})")
        all_steps = np.unique(np.concatenate([s for s, _ in per_seed]))
        grid = all_steps[(all_steps >= lo) & (all_steps <= hi)]
    else:
        grid = np.unique(np.asarray(step_grid, dtype=float))
    mat = np.full((len(per_seed), grid.size), np.nan)
    for i, (s, v) in enumerate(per_seed):
        inside = (grid >= s[0]) & (grid <= s[-1])
        mat[i, inside] = np.interp(grid[inside], s, v)
    return grid, mat, seeds


def iqm_curve(curves: pd.DataFrame, step_grid: np.ndarray | None = None) -> pd.DataFrame:
    """IQM (and mean) learning curve across seeds on a common step grid (see ``seed_matrix``).

    With an explicit ``step_grid``, a seed contributes only where the grid lies inside its own range;
    ``n_seeds`` says how many did.

    Returns:
        Frame with columns ``env_step, iqm, mean, n_seeds`` (one row per grid step).
    """
    grid, mat, _ = seed_matrix(curves, "return", step_grid)
    n_seeds = (~np.isnan(mat)).sum(axis=0)
    if np.all(n_seeds == mat.shape[0]):
        iqm_vals = scipy.stats.trim_mean(mat, 0.25, axis=0) if grid.size else np.empty(0)
        mean_vals = mat.mean(axis=0)
    else:
        iqm_vals = np.array(
            [
                scipy.stats.trim_mean(col[~np.isnan(col)], 0.25) if c else np.nan
                for col, c in zip(mat.T, n_seeds, strict=True)
            ]
        )
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean_vals = np.nanmean(mat, axis=0)
    return pd.DataFrame({"env_step": grid, "iqm": iqm_vals, "mean": mean_vals, "n_seeds": n_seeds})


def _iqm_over_seeds(mat: np.ndarray) -> np.ndarray:
    """(..., seeds, steps) -> (..., steps)."""
    return scipy.stats.trim_mean(mat, 0.25, axis=-2)


def _mean_over_seeds(mat: np.ndarray) -> np.ndarray:
    return np.mean(mat, axis=-2)


def curve_band(
    matrix: np.ndarray,
    rng: np.random.Generator,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    statistic: str = "iqm",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A statistic across seeds at every step, with a percentile-bootstrap band (seeds resampled).

    Whole curves are resampled (a seed's values stay together), as in rliable's sample-efficiency
    curves. ``statistic``: ``"iqm"`` or ``"mean"``.

    Shapes: ``matrix`` (seeds, k), complete -> ``(point (k,), low (k,), high (k,))``; with one seed the
    band is the point itself.
    """
    fn = {"iqm": _iqm_over_seeds, "mean": _mean_over_seeds}[statistic]
    mat = np.asarray(matrix, dtype=float)
    if mat.ndim != 2 or mat.shape[0] == 0:
        raise ValueError(f"matrix must be (seeds, steps) with at least one seed, got shape {mat.shape}")
    check_ci_args(n_resamples, confidence)
    point = fn(mat)
    if mat.shape[0] < 2:
        return point, point.copy(), point.copy()
    boot = bootstrap_strata([mat], lambda s: fn(s[0]), rng, n_resamples)  # (B, k)
    lo, hi = percentile_interval(boot, confidence)
    return point, lo, hi


def bands_separate(
    steps_a: np.ndarray,
    band_a: tuple[np.ndarray, np.ndarray],
    steps_b: np.ndarray,
    band_b: tuple[np.ndarray, np.ndarray],
) -> bool:
    """Whether two curves' CI bands are disjoint at any step both cover (bands read piecewise linear).

    Shapes: ``steps_x`` (k_x,), ``band_x`` = (low (k_x,), high (k_x,)).
    """
    sa, sb = _check_steps(steps_a), _check_steps(steps_b)
    lo, hi = max(sa[0], sb[0]), min(sa[-1], sb[-1])
    if lo > hi:
        return False
    grid = np.unique(np.concatenate([sa, sb]))
    grid = grid[(grid >= lo) & (grid <= hi)]
    a_lo, a_hi = (np.interp(grid, sa, np.asarray(x, dtype=float)) for x in band_a)
    b_lo, b_hi = (np.interp(grid, sb, np.asarray(x, dtype=float)) for x in band_b)
    return bool(np.any((a_lo > b_hi) | (b_lo > a_hi)))


@dataclass(frozen=True)
class SampleEfficiency:
    """How many times fewer env steps a method needs than the baseline to reach a score both reached.

    Attributes:
        ratio: baseline_steps / method_steps, the point estimate.
        ci_low, ci_high: percentile-bootstrap interval over seeds (NaN with fewer than 2 seeds per group).
        threshold: the score both must reach: the lower of the two final IQMs.
        threshold_from: ``"baseline"`` or ``"method"``, whose final IQM the threshold is.
        baseline_steps, method_steps: env steps each IQM curve needs to reach the threshold (at most its
            budget: a final score is measured there).
    """

    ratio: float
    ci_low: float
    ci_high: float
    threshold: float
    threshold_from: str
    baseline_steps: float
    method_steps: float

    @property
    def ci_includes_one(self) -> bool:
        return not (self.ci_low > 1.0 or self.ci_high < 1.0)


def _steps_to(steps: np.ndarray, curves: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """Env steps the IQM curve of (B, seeds, k) curves needs to reach (B,) thresholds; its budget if never."""
    reached = first_crossing(steps, _iqm_over_seeds(curves), threshold)
    return np.where(np.isnan(reached), steps[-1], reached)


def _efficiency(
    base_steps: np.ndarray,
    base_curves: np.ndarray,
    base_finals: np.ndarray,
    method_steps: np.ndarray,
    method_curves: np.ndarray,
    method_finals: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """Batched core of ``sample_efficiency``: (B, m, kb), (B, m), (B, n, km), (B, n) -> five (B,) arrays:
    ratio, threshold, whether it is the baseline's final, steps of the baseline, steps of the method."""
    base_final = scipy.stats.trim_mean(base_finals, 0.25, axis=-1)
    method_final = scipy.stats.trim_mean(method_finals, 0.25, axis=-1)
    threshold = np.minimum(base_final, method_final)
    s_base = _steps_to(base_steps, base_curves, threshold)
    s_method = _steps_to(method_steps, method_curves, threshold)
    return s_base / s_method, threshold, base_final <= method_final, s_base, s_method


def sample_efficiency(
    base_steps: np.ndarray,
    base_curves: np.ndarray,
    base_finals: np.ndarray,
    method_steps: np.ndarray,
    method_curves: np.ndarray,
    method_finals: np.ndarray,
    rng: np.random.Generator,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
) -> SampleEfficiency:
    """ "The method reaches the same score in x times fewer env steps than the baseline", with a CI.

    Threshold = the lower of the two final IQMs (IQM over seeds of the ``*_finals``, the table's numbers):
    a score each algorithm demonstrably reached within its own budget. Where the method ends higher this
    is the baseline's final score, the paper's "reaches SAC's asymptote x times sooner"; where the baseline
    trained longer and ends higher (SAC 150k vs MBPO 50k), thresholding at its final score would leave
    only a bound, while MBPO's final is a level both curves cross. x = (env steps the baseline's IQM curve
    needs to reach it) / (env steps the method's needs); a curve that crosses it only in its final window
    counts at its budget. The CI resamples seeds within each group, recomputing both finals, the threshold
    and both IQM curves from the same resampled seeds.

    Shapes: ``base_steps`` (kb,), ``base_curves`` (m, kb), ``base_finals`` (m,), ``method_steps`` (km,),
    ``method_curves`` (n, km), ``method_finals`` (n,); steps positive and increasing, curves complete.
    """
    bs, ms = _check_steps(base_steps), _check_steps(method_steps)
    if bs[0] <= 0 or ms[0] <= 0:
        raise ValueError("curves must start after env step 0 (a ratio of steps needs positive steps)")
    bc, bf, mc, mf = (np.asarray(a, dtype=float) for a in (base_curves, base_finals, method_curves, method_finals))
    if bc.ndim != 2 or bc.shape != (bf.size, bs.size) or mc.ndim != 2 or mc.shape != (mf.size, ms.size):
        raise ValueError(
            f"shapes do not fit: base_curves {bc.shape}, base_finals {bf.shape}, base_steps {bs.shape}, "
            f"method_curves {mc.shape}, method_finals {mf.shape}, method_steps {ms.shape}"
        )
    for a, name in ((bc, "base_curves"), (bf, "base_finals"), (mc, "method_curves"), (mf, "method_finals")):
        check_finite(a, name)
    check_ci_args(n_resamples, confidence)
    point = _efficiency(bs, bc[None], bf[None], ms, mc[None], mf[None])
    ratio, threshold, from_baseline, s_base, s_method = (x[0] for x in point)
    ci_low = ci_high = np.nan
    if bf.size >= 2 and mf.size >= 2:
        # A seed's curve and its final stay together in every resample.
        stacked = [np.concatenate([bc, bf[:, None]], axis=1), np.concatenate([mc, mf[:, None]], axis=1)]

        def ratio_of(s: list[np.ndarray]) -> np.ndarray:  # -> (B,)
            base, method = s
            return _efficiency(bs, base[..., :-1], base[..., -1], ms, method[..., :-1], method[..., -1])[0]

        lo, hi = percentile_interval(bootstrap_strata(stacked, ratio_of, rng, n_resamples), confidence)
        ci_low, ci_high = float(lo), float(hi)
    return SampleEfficiency(
        ratio=float(ratio),
        ci_low=ci_low,
        ci_high=ci_high,
        threshold=float(threshold),
        threshold_from="baseline" if from_baseline else "method",
        baseline_steps=float(s_base),
        method_steps=float(s_method),
    )
