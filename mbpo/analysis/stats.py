"""Statistics behind the benchmark's published tables (``stats.csv``).

Conventions follow Agarwal et al. (2021), "Deep RL at the Edge of the Statistical Precipice" (rliable):
interquartile mean (IQM) as the robust aggregate, stratified percentile-bootstrap confidence intervals
over runs, and probability of improvement. Unlike rliable, every resampling function takes an explicit
``np.random.Generator`` so that each interval in a cited table can be reproduced bit for bit.

Shapes: ``scores`` matrices are ``(runs, tasks)``; in this project a task is an environment and a run
is a seed. Functions are small and pure (no I/O, no global RNG).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import scipy.stats

__all__ = [
    "aggregate_iqm",
    "aggregate_mean",
    "compare",
    "holm",
    "iqm",
    "iqm_curve",
    "mann_whitney_u",
    "probability_of_improvement",
    "sample_efficiency_ratio",
    "steps_to_reach",
    "stratified_bootstrap_ci",
    "two_sample_bootstrap_ci",
    "vectorized_statistic",
    "welch_t_test",
]

# Upper bound on the number of float64 elements materialised per chunk of bootstrap resamples (~32 MiB).
_CHUNK_ELEMENTS = 1 << 22


# --------------------------------------------------------------------------------------------------
# Point estimates
# --------------------------------------------------------------------------------------------------


def _check_no_nan(x: np.ndarray, name: str) -> None:
    """Raise on NaN/inf: silently dropping a failed run would bias a published number."""
    bad = ~np.isfinite(x)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        kind = "NaN" if np.isnan(x).any() else "infinite"
        raise ValueError(
            f"{name} contains {int(bad.sum())} {kind} value(s) (first at index {where}); "
            "drop or repair failed runs explicitly before computing statistics"
        )


def iqm(scores: np.ndarray, axis: int | None = 0) -> np.ndarray | float:
    """Interquartile mean: the mean of the middle 50% of ``scores`` along ``axis``.

    Robust to a few diverged seeds yet far less noisy than the median (rliable's recommendation).
    Uses ``scipy.stats.trim_mean(x, 0.25, axis)``: ``int(0.25 * n)`` values are cut from each end,
    so for ``n`` not a multiple of 4 slightly more than 50% is kept (n=5 keeps the middle 3).
    ``axis=None`` pools all entries (rliable's aggregate IQM over a ``(runs, tasks)`` matrix).

    Shapes: ``scores`` (..., n, ...) -> ``scores`` with ``axis`` removed; a float for 1-D input.
    """
    x = np.asarray(scores, dtype=float)
    _check_no_nan(x, "scores")
    out = scipy.stats.trim_mean(x, 0.25, axis=axis)
    return float(out) if np.ndim(out) == 0 else out


def vectorized_statistic(fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """Mark ``fn`` as batch-capable, so ``stratified_bootstrap_ci`` calls it once on all resamples.

    A vectorized statistic must reduce the trailing ``(runs, tasks)`` axes and keep any leading batch
    axes: ``(runs, tasks) -> ()`` and ``(batch, runs, tasks) -> (batch,)``.
    """
    fn.vectorized = True  # type: ignore[attr-defined]
    return fn


@vectorized_statistic
def aggregate_iqm(scores: np.ndarray) -> np.ndarray:
    """IQM pooled over runs and tasks; shape (..., runs, tasks) -> (...). rliable's aggregate IQM."""
    x = np.asarray(scores, dtype=float)
    return scipy.stats.trim_mean(x.reshape(*x.shape[:-2], -1), 0.25, axis=-1)


@vectorized_statistic
def aggregate_mean(scores: np.ndarray) -> np.ndarray:
    """Mean over runs and tasks; shape (..., runs, tasks) -> (...)."""
    return np.asarray(scores, dtype=float).mean(axis=(-2, -1))


def probability_of_improvement(x: np.ndarray, y: np.ndarray) -> np.ndarray | float:
    """P(X > Y) + 0.5 P(X = Y) over all (x_i, y_j) pairs, i.e. Mann–Whitney U_x / (n m).

    Answers "how likely is a random run of X to beat a random run of Y", which is what readers
    usually want from a comparison, independent of score scale. Computed from mid-ranks (ties get
    half credit), so memory is O(n + m) per comparison.

    Shapes: ``x`` (..., n), ``y`` (..., m) with equal leading (batch) axes -> (...); float for 1-D.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape[-1] == 0 or y.shape[-1] == 0:
        raise ValueError("probability_of_improvement needs at least one run in each group")
    _check_no_nan(x, "x")
    _check_no_nan(y, "y")
    n, m = x.shape[-1], y.shape[-1]
    batch = np.broadcast_shapes(x.shape[:-1], y.shape[:-1])
    x, y = np.broadcast_to(x, (*batch, n)), np.broadcast_to(y, (*batch, m))
    ranks = scipy.stats.rankdata(np.concatenate([x, y], axis=-1), axis=-1)
    u_x = ranks[..., :n].sum(axis=-1) - n * (n + 1) / 2.0
    out = u_x / (n * m)
    return float(out) if np.ndim(out) == 0 else out


# --------------------------------------------------------------------------------------------------
# Bootstrap confidence intervals
# --------------------------------------------------------------------------------------------------


def _percentile_interval(boot: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = 1.0 - confidence
    lo, hi = np.quantile(boot, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(lo), float(hi)


def _check_ci_args(n_resamples: int, confidence: float) -> None:
    if int(n_resamples) < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def _as_scalar(value: object, what: str) -> float:
    arr = np.asarray(value, dtype=float)
    if arr.size != 1:
        raise ValueError(f"{what} must return a scalar, got shape {arr.shape}")
    return float(arr.reshape(()))


def stratified_bootstrap_ci(
    scores: np.ndarray,
    statistic: Callable[[np.ndarray], float],
    rng: np.random.Generator,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    *,
    vectorized: bool | None = None,
) -> tuple[float, float, float]:
    """Percentile bootstrap CI of ``statistic`` with runs resampled independently within each task.

    Stratifying by task keeps every resample a valid benchmark (each env keeps its run count) and
    reflects that the uncertainty comes from seeds, not from the choice of envs.

    Args:
        scores: (runs, tasks) matrix; a 1-D array is one task and is reshaped to (runs, 1) before
            ``statistic`` sees it. Must be complete: NaN/inf raise ``ValueError``.
        statistic: maps a (runs, tasks) array to a scalar, e.g. ``aggregate_iqm``. If vectorized it
            must also map (batch, runs, tasks) -> (batch,) by reducing the last two axes.
        rng: source of all randomness; the same generator state gives the same interval.
        n_resamples: number of bootstrap resamples.
        confidence: two-sided coverage of the percentile interval.
        vectorized: call ``statistic`` once per chunk of resamples (fast) instead of once per
            resample. ``None`` (default) uses ``getattr(statistic, "vectorized", False)``, which is
            True for ``aggregate_iqm``/``aggregate_mean`` and anything wrapped with
            ``vectorized_statistic``. Both paths consume ``rng`` identically and give the same result.

    Returns:
        ``(point, lo, hi)`` with ``point = statistic(scores)``.
    """
    x = np.asarray(scores, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"scores must be a non-empty (runs, tasks) array, got shape {np.shape(scores)}")
    _check_no_nan(x, "scores")
    _check_ci_args(n_resamples, confidence)
    if vectorized is None:
        vectorized = bool(getattr(statistic, "vectorized", False))

    runs, tasks = x.shape
    point = _as_scalar(statistic(x), "statistic")
    cols = np.arange(tasks)
    chunk = max(1, _CHUNK_ELEMENTS // (runs * tasks))
    boot = np.empty(int(n_resamples))
    for start in range(0, int(n_resamples), chunk):
        b = min(chunk, int(n_resamples) - start)
        idx = rng.integers(0, runs, size=(b, runs, tasks))
        resamples = x[idx, cols]  # resamples[k, r, t] = x[idx[k, r, t], t]: never mixes tasks
        if vectorized:
            out = np.asarray(statistic(resamples), dtype=float)
            if out.shape != (b,):
                raise ValueError(f"vectorized statistic must map (batch, runs, tasks) -> (batch,), got {out.shape}")
            boot[start : start + b] = out
        else:
            for k in range(b):
                boot[start + k] = _as_scalar(statistic(resamples[k]), "statistic")
    lo, hi = _percentile_interval(boot, confidence)
    return point, lo, hi


def two_sample_bootstrap_ci(
    x: np.ndarray,
    y: np.ndarray,
    statistic: Callable[[np.ndarray, np.ndarray], np.ndarray],
    rng: np.random.Generator,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
) -> tuple[float, float, float]:
    """Percentile bootstrap CI of a two-group statistic, resampling runs within each group.

    The groups are the strata (e.g. MBPO seeds and SAC seeds of one env), so each resample keeps both
    group sizes. Used for ratios of IQMs, mean differences and probability of improvement.

    Args:
        x, y: 1-D run scores, shapes (n,) and (m,); NaN/inf raise ``ValueError``.
        statistic: vectorized, ``(batch, n), (batch, m) -> (batch,)`` reducing the last axis, e.g.
            ``probability_of_improvement``.

    Returns:
        ``(point, lo, hi)``, ``point = statistic(x[None], y[None])[0]``.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.ndim != 1 or y.ndim != 1 or x.size == 0 or y.size == 0:
        raise ValueError(f"x and y must be non-empty 1-D arrays, got shapes {x.shape} and {y.shape}")
    _check_no_nan(x, "x")
    _check_no_nan(y, "y")
    _check_ci_args(n_resamples, confidence)

    point = _as_scalar(statistic(x[None], y[None]), "statistic")
    n, m = x.size, y.size
    chunk = max(1, _CHUNK_ELEMENTS // (n + m))
    boot = np.empty(int(n_resamples))
    for start in range(0, int(n_resamples), chunk):
        b = min(chunk, int(n_resamples) - start)
        xb = x[rng.integers(0, n, size=(b, n))]
        yb = y[rng.integers(0, m, size=(b, m))]
        out = np.asarray(statistic(xb, yb), dtype=float)
        if out.shape != (b,):
            raise ValueError(f"statistic must map (batch, n), (batch, m) -> (batch,), got {out.shape}")
        boot[start : start + b] = out
    lo, hi = _percentile_interval(boot, confidence)
    return point, lo, hi


# --------------------------------------------------------------------------------------------------
# Hypothesis tests
# --------------------------------------------------------------------------------------------------


def _sample(a: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(a, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    _check_no_nan(arr, name)
    return arr


def welch_t_test(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided p-value of Welch's t-test (unequal variances), shapes (n,), (m,).

    Welch rather than Student because MBPO and SAC seeds have visibly different spreads. Returns NaN
    when it is undefined: fewer than 2 runs in a group, or zero variance in both groups.
    """
    a, b = _sample(a, "a"), _sample(b, "b")
    if a.size < 2 or b.size < 2:
        return float("nan")
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(scipy.stats.ttest_ind(a, b, equal_var=False).pvalue)


def mann_whitney_u(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided p-value of the Mann–Whitney U test, shapes (n,), (m,).

    Rank-based, so a single diverged seed cannot dominate it as it can the t-test. scipy's default
    method (exact for small samples without ties, asymptotic otherwise). NaN if a group is empty.
    """
    a, b = _sample(a, "a"), _sample(b, "b")
    if a.size < 1 or b.size < 1:
        return float("nan")
    return float(scipy.stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values, in input order; shape (k,) -> (k,).

    Controls the family-wise error rate across envs without assuming independence, and is uniformly
    more powerful than Bonferroni. Adjusted values are monotone in the raw ones and capped at 1.
    NaN entries (untestable comparisons) stay NaN and do not count towards the family size.
    """
    p = np.asarray(pvalues, dtype=float)
    if p.ndim != 1:
        raise ValueError(f"pvalues must be 1-D, got shape {p.shape}")
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    q = p[ok]
    if q.size == 0:
        return out
    if ((q < 0) | (q > 1)).any():
        raise ValueError("p-values must lie in [0, 1]")
    k = q.size
    order = np.argsort(q, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate((k - np.arange(k)) * q[order]))
    res = np.empty(k)
    res[order] = adjusted
    out[ok] = res
    return out


# --------------------------------------------------------------------------------------------------
# Learning curves and sample efficiency
# --------------------------------------------------------------------------------------------------


def steps_to_reach(steps: np.ndarray, values: np.ndarray, threshold: float) -> float | None:
    """First env step at which a learning curve reaches ``threshold``, or None if it never does.

    The curve is read as piecewise linear between evaluations, so the crossing is interpolated
    between the last point below and the first point at/above the threshold (evaluations are sparse;
    snapping to the next evaluation would overstate the steps needed by up to one eval interval).

    Shapes: ``steps`` (k,) strictly increasing, ``values`` (k,).
    """
    s = np.asarray(steps, dtype=float)
    v = np.asarray(values, dtype=float)
    if s.ndim != 1 or s.shape != v.shape or s.size == 0:
        raise ValueError(f"steps and values must be non-empty 1-D arrays of equal length ({s.shape}, {v.shape})")
    _check_no_nan(s, "steps")
    _check_no_nan(v, "values")
    if np.any(np.diff(s) <= 0):
        raise ValueError("steps must be strictly increasing")
    if not np.isfinite(threshold):
        raise ValueError(f"threshold must be finite, got {threshold}")
    hit = np.flatnonzero(v >= threshold)
    if hit.size == 0:
        return None
    i = int(hit[0])
    if i == 0:
        return float(s[0])
    s0, s1, v0, v1 = s[i - 1], s[i], v[i - 1], v[i]  # v0 < threshold <= v1, so v1 > v0
    return float(s0 + (threshold - v0) * (s1 - s0) / (v1 - v0))


def sample_efficiency_ratio(
    sac_steps: np.ndarray,
    sac_curve: np.ndarray,
    mbpo_steps_reached: float,
    mbpo_final: float,
) -> tuple[float, bool]:
    """How many times more env steps SAC needs than MBPO to reach MBPO's final return.

    ``ratio = steps_to_reach(sac_steps, sac_curve, mbpo_final) / mbpo_steps_reached``.
    If SAC's curve never reaches ``mbpo_final`` within its budget (``sac_steps[-1]``), the true
    ratio is only bounded below: returns ``(sac_steps[-1] / mbpo_steps_reached, False)``, to be
    reported as "> ratio". Otherwise returns ``(ratio, True)``.

    Shapes: ``sac_steps``, ``sac_curve`` (k,), e.g. SAC's IQM curve across seeds.
    """
    if not mbpo_steps_reached > 0:
        raise ValueError(f"mbpo_steps_reached must be > 0, got {mbpo_steps_reached}")
    needed = steps_to_reach(sac_steps, sac_curve, mbpo_final)
    if needed is None:
        return float(np.asarray(sac_steps, dtype=float)[-1]) / float(mbpo_steps_reached), False
    return needed / float(mbpo_steps_reached), True


def iqm_curve(curves: pd.DataFrame, step_grid: np.ndarray | None = None) -> pd.DataFrame:
    """IQM (and mean) learning curve across seeds on a common step grid.

    Seeds are evaluated at different steps (eval intervals, resumed jobs), so each seed's curve is
    linearly interpolated onto a common grid first. Default grid: the union of all evaluation steps
    inside the range covered by every seed (no extrapolation). With an explicit ``step_grid``, a
    seed contributes only where the grid lies inside its own range; ``n_seeds`` says how many did.
    Repeated evaluations at one step are averaged.

    Args:
        curves: tidy frame with columns ``seed, env_step, return`` for one (env, algo, variant).
        step_grid: optional (g,) grid of env steps.

    Returns:
        Frame with columns ``env_step, iqm, mean, n_seeds`` (one row per grid step).
    """
    missing = {"seed", "env_step", "return"} - set(curves.columns)
    if missing:
        raise ValueError(f"curves is missing columns {sorted(missing)}")
    if curves.empty:
        raise ValueError("curves is empty")
    _check_no_nan(curves["return"].to_numpy(dtype=float), "curves['return']")
    _check_no_nan(curves["env_step"].to_numpy(dtype=float), "curves['env_step']")

    agg = curves.groupby(["seed", "env_step"], sort=True)["return"].mean()
    per_seed = [
        (g.index.get_level_values("env_step").to_numpy(), g.to_numpy(dtype=float))
        for _, g in agg.groupby(level="seed", sort=True)
    ]
    if step_grid is None:
        lo = max(s[0] for s, _ in per_seed)
        hi = min(s[-1] for s, _ in per_seed)
        if lo > hi:
            raise ValueError(f"seeds' step ranges do not overlap (latest start {lo} > earliest end {hi})")
        all_steps = np.unique(np.concatenate([s for s, _ in per_seed]))
        grid = all_steps[(all_steps >= lo) & (all_steps <= hi)]
    else:
        grid = np.unique(np.asarray(step_grid))
    grid_f = grid.astype(float)

    mat = np.full((len(per_seed), grid.size), np.nan)  # (seeds, grid)
    for i, (s, v) in enumerate(per_seed):
        inside = (grid_f >= s[0]) & (grid_f <= s[-1])
        mat[i, inside] = np.interp(grid_f[inside], s.astype(float), v)

    n_seeds = (~np.isnan(mat)).sum(axis=0)
    if np.all(n_seeds == len(per_seed)):
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


# --------------------------------------------------------------------------------------------------
# The stats.csv table
# --------------------------------------------------------------------------------------------------

STATS_COLUMNS = [
    "env",
    "algo",
    "variant",
    "comparison",
    "metric",
    "estimate",
    "ci_low",
    "ci_high",
    "p_value",
    "p_value_holm",
    "n",
    "note",
]


def _join(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


def _value_at(curve: tuple[np.ndarray, np.ndarray] | None, step: float) -> float:
    """A run's return at ``step``, linearly interpolated; NaN if its curve does not cover ``step``."""
    if curve is None:
        return np.nan
    s, v = curve
    if s.size == 0 or step < s[0] or step > s[-1]:
        return np.nan
    return float(np.interp(step, s, v))


def _aligned_finals(
    g: pd.DataFrame, b: pd.DataFrame, run_curves: dict[tuple, tuple[np.ndarray, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray, str]:
    """Final returns of group ``g`` and baseline ``b`` (runs in seed order) at an equal env-step budget.

    Equal budgets everywhere: the summary's ``final_return`` (however the summary defines it).
    Otherwise all runs of both groups are read off their curves at the smallest budget among them,
    so both sides are measured the same way; runs whose curve does not cover that step are dropped.
    """
    steps = np.concatenate([g["steps"].to_numpy(dtype=float), b["steps"].to_numpy(dtype=float)])
    if np.unique(steps).size == 1:
        return g["final_return"].to_numpy(dtype=float), b["final_return"].to_numpy(dtype=float), ""
    step = float(steps.min())

    def read(frame: pd.DataFrame) -> np.ndarray:
        keys = zip(frame["env"], frame["algo"], frame["variant"], frame["seed"], strict=True)
        return np.array([_value_at(run_curves.get(k), step) for k in keys], dtype=float)

    xg, xb = read(g), read(b)
    dropped = int(np.isnan(xg).sum() + np.isnan(xb).sum())
    note = (
        f"budgets differ ({g['steps'].max():.0f} vs {b['steps'].max():.0f} steps): "
        f"compared at {step:.0f} env steps, returns interpolated from curves"
    )
    if dropped:
        note += f"; {dropped} run(s) without curve data at that step dropped"
    return xg[~np.isnan(xg)], xb[~np.isnan(xb)], note


def _iqm_ratio(xb: np.ndarray, yb: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return scipy.stats.trim_mean(xb, 0.25, axis=-1) / scipy.stats.trim_mean(yb, 0.25, axis=-1)


def _mean_diff(xb: np.ndarray, yb: np.ndarray) -> np.ndarray:
    return xb.mean(axis=-1) - yb.mean(axis=-1)


def _group_rows(g: pd.DataFrame, rng: np.random.Generator, n_resamples: int, confidence: float) -> list[dict]:
    """``mean_return`` and ``iqm_return`` rows of one (env, algo, variant) at its own budget."""
    x = g["final_return"].to_numpy(dtype=float)
    budgets = g["steps"].unique()
    note = "" if budgets.size == 1 else f"runs have different budgets ({sorted(budgets.tolist())})"
    rows = []
    for metric, stat in (("mean_return", aggregate_mean), ("iqm_return", aggregate_iqm)):
        if x.size >= 2:
            point, lo, hi = stratified_bootstrap_ci(x, stat, rng, n_resamples, confidence)
            rows.append(dict(metric=metric, estimate=point, ci_low=lo, ci_high=hi, n=x.size, note=note))
        else:
            rows.append(dict(metric=metric, estimate=x.mean(), n=x.size, note=_join(note, "1 seed: no CI")))
    return rows


def _comparison_rows(
    g: pd.DataFrame,
    xg: np.ndarray,
    xb: np.ndarray,
    align_note: str,
    base_iqm_curve: pd.DataFrame | None,
    baseline: str,
    rng: np.random.Generator,
    n_resamples: int,
    confidence: float,
) -> list[dict]:
    """The five comparison rows of one group vs the baseline in one env (see ``compare``)."""
    n_g, n_b = xg.size, xb.size
    n = min(n_g, n_b)
    if n == 0:
        return [dict(metric="iqm_ratio", estimate=np.nan, n=0, note=_join(align_note, "no comparable runs"))]
    few = n < 2
    if few:
        note = _join(align_note, f"fewer than 2 seeds (n={n_g} vs {n_b}): no CI or test")
    else:
        note = _join(align_note, f"unequal seeds (n={n_g} vs {n_b})" if n_g != n_b else "")

    def boot(stat: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> dict:
        if few:
            return dict(estimate=float(stat(xg[None], xb[None])[0]))
        point, lo, hi = two_sample_bootstrap_ci(xg, xb, stat, rng, n_resamples, confidence)
        return dict(estimate=point, ci_low=lo, ci_high=hi)

    rows: list[dict] = []
    if iqm(xb) > 0:
        rows.append(dict(metric="iqm_ratio", **boot(_iqm_ratio), n=n, note=note))
    else:
        rows.append(dict(metric="iqm_ratio", estimate=np.nan, n=n, note=_join(note, "baseline IQM <= 0")))

    p = np.nan if few else welch_t_test(xg, xb)
    t_note = "" if few or np.isfinite(p) else "test undefined (zero variance)"
    rows.append(dict(metric="welch_t", **boot(_mean_diff), p_value=p, n=n, note=_join(note, t_note)))

    u = float(probability_of_improvement(xg, xb)) * n_g * n_b
    p = np.nan if few else mann_whitney_u(xg, xb)
    rows.append(dict(metric="mann_whitney_u", estimate=u, p_value=p, n=n, note=note))

    rows.append(dict(metric="prob_improvement", **boot(probability_of_improvement), n=n, note=note))

    # Sample efficiency: the baseline's whole curve vs the group's own final IQM and budget.
    target = iqm(g["final_return"].to_numpy(dtype=float))
    budget = float(g["steps"].max())
    se = dict(metric="sample_efficiency_ratio", estimate=np.nan, n=len(g))
    if base_iqm_curve is None:
        se["note"] = "no baseline curves"
    else:
        steps, values = base_iqm_curve["env_step"].to_numpy(), base_iqm_curve["iqm"].to_numpy()
        ratio, reached = sample_efficiency_ratio(steps, values, budget, target)
        se["estimate"] = ratio
        if reached:
            se["note"] = f"{baseline} reaches {target:.4g} at {ratio * budget:.0f} steps vs {budget:.0f}"
        else:
            se["note"] = f"> {ratio:.3g}x ({baseline} never reached {target:.4g} within {steps[-1]:.0f} steps)"
        if len(g) < 2:
            se["note"] = _join(se["note"], "1 seed")
    rows.append(se)
    return rows


def _aggregate_row(
    per_env: dict[str, np.ndarray],
    left_out: list[str],
    baseline: str,
    rng: np.random.Generator,
    n_resamples: int,
    confidence: float,
) -> dict:
    """IQM of baseline-normalised scores over a (runs, envs) matrix, stratified bootstrap CI."""
    envs = sorted(per_env)
    k = min(per_env[e].size for e in envs)
    notes = [f"{len(envs)} envs x {k} runs, normalised by {baseline}/default mean return", *left_out]
    if any(per_env[e].size != k for e in envs):
        notes.append(f"unequal seed counts: first {k} seeds per env used")
    mat = np.column_stack([per_env[e][:k] for e in envs])  # (runs, envs)
    row = dict(metric="iqm_normalized_return", n=mat.size)
    if k >= 2:
        point, lo, hi = stratified_bootstrap_ci(mat, aggregate_iqm, rng, n_resamples, confidence)
        row.update(estimate=point, ci_low=lo, ci_high=hi, note=_join(*notes))
    else:
        row.update(estimate=float(aggregate_iqm(mat)), note=_join(*notes, "1 seed: no CI"))
    return row


def compare(
    summary: pd.DataFrame,
    curves: pd.DataFrame,
    rng: np.random.Generator,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    baseline: str = "sac",
    method: str | None = "mbpo",
) -> pd.DataFrame:
    """Build the ``stats.csv`` table: tidy rows, one estimate (with CI / p-value) per row.

    Inputs:
        summary: one row per run; columns ``env, algo, variant, seed, final_return, steps``.
        curves: tidy learning curves; columns ``env, algo, variant, seed, env_step, return``.
        rng: the only randomness; identical inputs and generator state give an identical table.

    Rows (columns ``STATS_COLUMNS``; ``comparison`` is "" for single-group rows, otherwise
    ``"algo/variant vs baseline/default"``; CI/p columns NaN where not applicable):
        * per (env, algo, variant): ``mean_return`` and ``iqm_return`` of ``final_return`` at that
          group's own budget, with stratified bootstrap CIs; ``n`` = seeds.
        * per env, for every compared group vs the baseline group (``algo == baseline``,
          ``variant == "default"``):
            - ``iqm_ratio``: IQM(group) / IQM(baseline), two-sample bootstrap CI (NaN with a note
              if the baseline IQM is <= 0, where a ratio is meaningless);
            - ``welch_t``: estimate = mean difference (group - baseline) with bootstrap CI,
              ``p_value`` = Welch t-test;
            - ``mann_whitney_u``: estimate = U statistic of the group, ``p_value`` = two-sided test;
            - ``prob_improvement``: P(group run > baseline run), two-sample bootstrap CI;
            - ``sample_efficiency_ratio``: env steps the baseline's IQM curve (its full budget)
              needs to reach the group's final-return IQM, divided by the group's budget
              (``steps``). If never reached, the estimate is a lower bound and ``note`` starts with
              "> x"; ``n`` = seeds of the group.
          ``n`` = min(seeds of group, seeds of baseline). ``p_value_holm``: Holm across envs,
          separately per test and per comparison.
        * ``env = "all"``, per group: ``iqm_normalized_return``, IQM of the (runs, envs) matrix of
          each run's return divided by the baseline's mean return in that env (at the equal budget
          below), stratified bootstrap CI. Envs where that mean is <= 0 are left out (noted); with
          unequal seed counts the first k seeds per env are used, k = the smallest (noted).
          ``n`` = runs * envs.

    Equal env steps: comparisons and normalised scores use the summary's ``final_return`` when
    every run of both groups has the same ``steps``. If budgets differ, all runs of both groups are
    read off their curves (linear interpolation) at the smallest budget instead, and ``note`` says
    so. The sample-efficiency ratio deliberately uses the baseline's whole curve.

    Compared groups: every variant of ``method`` and every non-default variant of ``baseline``;
    ``method=None`` compares every group other than the baseline group. Envs without baseline runs
    get no comparison rows; a group with no run comparable to the baseline (e.g. no curve data at
    the equal budget) gets a single NaN ``iqm_ratio`` row noting "no comparable runs". Groups with
    < 2 seeds get NaN CIs and p-values with a note.
    NaN ``final_return``/``steps``/curve returns raise ``ValueError`` (drop failed runs explicitly).
    """
    need_s = {"env", "algo", "variant", "seed", "final_return", "steps"}
    need_c = {"env", "algo", "variant", "seed", "env_step", "return"}
    if need_s - set(summary.columns):
        raise ValueError(f"summary is missing columns {sorted(need_s - set(summary.columns))}")
    if need_c - set(curves.columns):
        raise ValueError(f"curves is missing columns {sorted(need_c - set(curves.columns))}")
    keys = ["env", "algo", "variant", "seed"]
    if summary.duplicated(keys).any():
        dup = summary.loc[summary.duplicated(keys), keys].iloc[0].to_dict()
        raise ValueError(f"summary has duplicate runs, e.g. {dup}")
    nan_runs = summary.loc[summary["final_return"].isna() | summary["steps"].isna(), keys]
    if len(nan_runs):
        raise ValueError(
            f"summary has NaN final_return/steps for {len(nan_runs)} run(s), e.g. "
            f"{nan_runs.iloc[0].to_dict()}; drop failed runs explicitly"
        )
    _check_no_nan(curves["return"].to_numpy(dtype=float), "curves['return']")

    summary = summary.sort_values(keys, kind="stable").reset_index(drop=True)
    run_curves: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
    for key, c in curves.groupby(keys, sort=True):
        c = c.groupby("env_step", sort=True)["return"].mean()
        run_curves[key] = (c.index.to_numpy(dtype=float), c.to_numpy(dtype=float))

    base_key = (baseline, "default")
    rows: list[dict] = []
    normalized: dict[tuple, dict[str, np.ndarray]] = {}  # (algo, variant) -> env -> (runs,)
    left_out: dict[tuple, list[str]] = {}

    for env, s_env in summary.groupby("env", sort=True):
        groups = dict(iter(s_env.groupby(["algo", "variant"], sort=True)))
        for (algo, variant), g in groups.items():
            for r in _group_rows(g, rng, n_resamples, confidence):
                rows.append(dict(env=env, algo=algo, variant=variant, comparison="", **r))

        base = groups.get(base_key)
        if base is None:
            continue
        c_base = curves[(curves["env"] == env) & (curves["algo"] == baseline) & (curves["variant"] == "default")]
        base_iqm_curve = None if c_base.empty else iqm_curve(c_base[["seed", "env_step", "return"]])

        for (algo, variant), g in groups.items():
            xg, xb, align_note = _aligned_finals(g, base, run_curves)
            base_mean = float(xb.mean()) if xb.size else np.nan
            if xg.size and base_mean > 0:
                normalized.setdefault((algo, variant), {})[env] = xg / base_mean
            else:
                why = "no comparable runs" if not (xg.size and xb.size) else f"baseline mean {base_mean:.4g} <= 0"
                left_out.setdefault((algo, variant), []).append(f"{env} left out ({why})")
            compared = (algo, variant) != base_key and (
                method is None or algo == method or (algo == baseline and variant != "default")
            )
            if compared:
                comp = f"{algo}/{variant} vs {baseline}/default"
                for r in _comparison_rows(
                    g, xg, xb, align_note, base_iqm_curve, baseline, rng, n_resamples, confidence
                ):
                    rows.append(dict(env=env, algo=algo, variant=variant, comparison=comp, **r))

    for (algo, variant), per_env in sorted(normalized.items()):
        r = _aggregate_row(per_env, left_out.get((algo, variant), []), baseline, rng, n_resamples, confidence)
        comp = f"{algo}/{variant} vs {baseline}/default"
        rows.append(dict(env="all", algo=algo, variant=variant, comparison=comp, **r))

    out = pd.DataFrame(rows).reindex(columns=STATS_COLUMNS)
    for col in ("estimate", "ci_low", "ci_high", "p_value", "p_value_holm"):
        out[col] = out[col].astype(float)
    out["note"] = out["note"].fillna("").astype(str)
    out["n"] = out["n"].astype(int)
    # Holm across envs, separately per test and per comparison.
    for metric in ("welch_t", "mann_whitney_u"):
        tests = out[out["metric"] == metric]
        for idx in tests.groupby(["algo", "variant", "comparison"]).groups.values():
            out.loc[idx, "p_value_holm"] = holm(out.loc[idx, "p_value"].to_numpy())
    return out
