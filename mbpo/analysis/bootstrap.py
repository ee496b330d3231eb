"""Percentile-bootstrap confidence intervals over seeds, each drawn from an explicit ``np.random.Generator``.

Runs are resampled with replacement *within* strata (an env, or an (env, algorithm) pair), so every
resample is a valid benchmark: each stratum keeps its run count, and the uncertainty comes from seeds,
not from the choice of envs (rliable's stratified bootstrap). Unlike rliable, the generator is passed in,
so every interval in a cited table can be reproduced bit for bit. Statistics are vectorized: they get all
resamples of a chunk at once, with a leading batch axis.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from mbpo.analysis.estimators import check_finite

__all__ = [
    "bootstrap_strata",
    "percentile_interval",
    "stratified_bootstrap_ci",
    "two_sample_bootstrap_ci",
]

# Upper bound on the number of float64 elements materialised per chunk of bootstrap resamples (~32 MiB).
CHUNK_ELEMENTS = 1 << 22


def percentile_interval(boot: np.ndarray, confidence: float, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The two-sided percentile interval of bootstrap replicates along ``axis``: (low, high)."""
    alpha = 1.0 - confidence
    lo, hi = np.quantile(boot, [alpha / 2.0, 1.0 - alpha / 2.0], axis=axis)
    return lo, hi


def check_ci_args(n_resamples: int, confidence: float) -> None:
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
    check_finite(x, "scores")
    check_ci_args(n_resamples, confidence)
    if vectorized is None:
        vectorized = bool(getattr(statistic, "vectorized", False))

    runs, tasks = x.shape
    point = _as_scalar(statistic(x), "statistic")
    cols = np.arange(tasks)
    chunk = max(1, CHUNK_ELEMENTS // (runs * tasks))
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
    lo, hi = percentile_interval(boot, confidence)
    return point, float(lo), float(hi)


def bootstrap_strata(
    strata: Sequence[np.ndarray],
    statistic: Callable[[list[np.ndarray]], np.ndarray],
    rng: np.random.Generator,
    n_resamples: int = 10_000,
) -> np.ndarray:
    """Bootstrap replicates of a statistic of several groups of runs, resampling within each group.

    The groups may have different sizes (MBPO and SAC seeds of several envs) and carry trailing axes
    (a run's whole learning curve): only the first axis (runs) is resampled, so a run's values stay
    together. Per chunk of resamples, stratum 0's indices are drawn first, then stratum 1's, and so on.

    Args:
        strata: arrays of shape (n_i, ...), n_i >= 1; NaN/inf raise ``ValueError``.
        statistic: maps the list of resampled strata, each (batch, n_i, ...), to (batch, ...).
        rng: source of all randomness.

    Returns:
        Replicates, shape (n_resamples, ...).
    """
    arrays = [np.asarray(s, dtype=float) for s in strata]
    if not arrays or any(a.ndim == 0 or a.shape[0] == 0 for a in arrays):
        raise ValueError(f"every stratum needs at least one run, got shapes {[a.shape for a in arrays]}")
    for i, a in enumerate(arrays):
        check_finite(a, f"stratum {i}")
    if int(n_resamples) < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    chunk = max(1, CHUNK_ELEMENTS // sum(a.size for a in arrays))
    parts = []
    for start in range(0, int(n_resamples), chunk):
        b = min(chunk, int(n_resamples) - start)
        resampled = [a[rng.integers(0, a.shape[0], size=(b, a.shape[0]))] for a in arrays]
        out = np.asarray(statistic(resampled), dtype=float)
        if out.shape[:1] != (b,):
            raise ValueError(f"statistic must keep the batch axis ({b},), got shape {out.shape}")
        parts.append(out)
    return np.concatenate(parts, axis=0)


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
    check_finite(x, "x")
    check_finite(y, "y")
    check_ci_args(n_resamples, confidence)
    point = _as_scalar(statistic(x[None], y[None]), "statistic")
    boot = bootstrap_strata([x, y], lambda s: statistic(s[0], s[1]), rng, n_resamples)
    if boot.shape != (int(n_resamples),):
        raise ValueError(f"statistic must map (batch, n), (batch, m) -> (batch,), got {boot.shape[1:]} per resample")
    lo, hi = percentile_interval(boot, confidence)
    return point, float(lo), float(hi)
