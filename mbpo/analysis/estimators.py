"""Point estimates and tests on final scores: small pure functions, no I/O, no randomness.

Conventions follow Agarwal et al. (2021), "Deep RL at the Edge of the Statistical Precipice" (rliable):
the interquartile mean (IQM) is the robust aggregate, probability of improvement the scale-free
comparison, score distributions (performance profiles) the whole picture. Shapes: a ``scores`` matrix is
``(runs, tasks)``; in this project a task is an environment and a run is a seed. Every function that
reduces ``(runs, tasks)`` keeps any leading batch axes, so the bootstrap (``mbpo.analysis.bootstrap``)
calls it once on all resamples.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
import scipy.stats

__all__ = [
    "aggregate_iqm",
    "aggregate_mean",
    "check_finite",
    "holm",
    "iqm",
    "iqm_difference",
    "iqm_ratio",
    "iqm_trimmed",
    "mann_whitney_u",
    "mean_difference",
    "mean_iqm_ratio",
    "mean_probability_of_improvement",
    "probability_of_improvement",
    "score_distribution",
    "vectorized_statistic",
    "welch_t_test",
]


def check_finite(x: np.ndarray, name: str) -> None:
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
    Uses ``scipy.stats.trim_mean(x, 0.25, axis)``: ``int(0.25 * n)`` values are cut from each end
    (``iqm_trimmed``), so for ``n`` not a multiple of 4 slightly more than 50% is kept (n=5 keeps the
    middle 3) and below 4 runs nothing is cut: the IQM is the mean. ``axis=None`` pools all entries
    (rliable's aggregate IQM over a ``(runs, tasks)`` matrix).

    Shapes: ``scores`` (..., n, ...) -> ``scores`` with ``axis`` removed; a float for 1-D input.
    """
    x = np.asarray(scores, dtype=float)
    check_finite(x, "scores")
    out = scipy.stats.trim_mean(x, 0.25, axis=axis)
    return float(out) if np.ndim(out) == 0 else out


def iqm_trimmed(n: int) -> int:
    """How many of ``n`` values the IQM cuts from *each* end (``int(0.25 * n)``; 0 below 4 runs)."""
    return int(0.25 * n)


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
    check_finite(x, "x")
    check_finite(y, "y")
    n, m = x.shape[-1], y.shape[-1]
    batch = np.broadcast_shapes(x.shape[:-1], y.shape[:-1])
    x, y = np.broadcast_to(x, (*batch, n)), np.broadcast_to(y, (*batch, m))
    ranks = scipy.stats.rankdata(np.concatenate([x, y], axis=-1), axis=-1)
    u_x = ranks[..., :n].sum(axis=-1) - n * (n + 1) / 2.0
    out = u_x / (n * m)
    return float(out) if np.ndim(out) == 0 else out


def iqm_ratio(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """IQM(x) / IQM(y); shapes (..., n), (..., m) -> (...). Inf/NaN (no warning) where IQM(y) is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return scipy.stats.trim_mean(x, 0.25, axis=-1) / scipy.stats.trim_mean(y, 0.25, axis=-1)


def iqm_difference(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """IQM(x) - IQM(y); shapes (..., n), (..., m) -> (...). An ablation's effect in return units."""
    return scipy.stats.trim_mean(x, 0.25, axis=-1) - scipy.stats.trim_mean(y, 0.25, axis=-1)


def mean_difference(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """mean(x) - mean(y); shapes (..., n), (..., m) -> (...)."""
    return np.mean(x, axis=-1) - np.mean(y, axis=-1)


def mean_probability_of_improvement(xs: Sequence[np.ndarray], ys: Sequence[np.ndarray]) -> np.ndarray:
    """Mean over tasks of P(X > Y) (rliable's aggregate probability of improvement).

    Shapes: ``xs[t]`` (..., n_t), ``ys[t]`` (..., m_t), one pair per task -> (...).
    """
    return np.mean([probability_of_improvement(x, y) for x, y in zip(xs, ys, strict=True)], axis=0)


def mean_iqm_ratio(groups: Sequence[np.ndarray], baselines: Sequence[np.ndarray]) -> np.ndarray:
    """Mean over tasks of IQM(group) / IQM(baseline): the across-env aggregate of the per-env IQM ratio.

    Equal to the mean over tasks of the IQM of scores normalised by the baseline's IQM in each task
    (the IQM is scale-equivariant), so the baseline against itself is exactly 1, by construction.

    Shapes: ``groups[t]`` (..., n_t), ``baselines[t]`` (..., m_t), one pair per task, equal leading
    (batch) axes -> (...).
    """
    if len(groups) != len(baselines) or not groups:
        raise ValueError(f"need one group and one baseline per task, got {len(groups)} and {len(baselines)}")
    ratios = [
        scipy.stats.trim_mean(np.asarray(g, dtype=float), 0.25, axis=-1)
        / scipy.stats.trim_mean(np.asarray(b, dtype=float), 0.25, axis=-1)
        for g, b in zip(groups, baselines, strict=True)
    ]
    return np.mean(ratios, axis=0)


def score_distribution(scores: Sequence[np.ndarray], taus: np.ndarray) -> np.ndarray:
    """Performance profile: the fraction of runs scoring above each threshold, averaged over tasks.

    rliable's run-score distribution, ``F(tau) = mean_t (1 / n_t) sum_i [x_ti > tau]``, with every task
    weighted equally whatever its number of runs. Scores should be normalised so tasks are comparable.

    Shapes: ``scores[t]`` (..., n_t) per task, equal leading (batch) axes; ``taus`` (k,) -> (..., k).
    """
    taus = np.asarray(taus, dtype=float)
    if not len(scores):
        raise ValueError("score_distribution needs at least one task")
    per_task = [(np.asarray(x, dtype=float)[..., None, :] > taus[:, None]).mean(axis=-1) for x in scores]
    return np.mean(per_task, axis=0)


def _sample(a: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(a, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    check_finite(arr, name)
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

    Rank-based, so a single diverged seed cannot dominate it as it can the t-test; it tests exactly
    the null P(improvement) = 0.5, which is why its p-value sits beside that estimate. scipy's default
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
