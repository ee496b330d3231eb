"""Tests for the statistics (estimators, bootstrap, curves, stats.csv): hand-computed and constructed cases, so a
wrong convention fails loudly."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from mbpo.analysis.bootstrap import bootstrap_strata, stratified_bootstrap_ci, two_sample_bootstrap_ci
from mbpo.analysis.curves import (
    bands_separate,
    curve_band,
    first_crossing,
    iqm_curve,
    sample_efficiency,
    seed_matrix,
    steps_to_reach,
)
from mbpo.analysis.estimators import (
    aggregate_iqm,
    aggregate_mean,
    holm,
    iqm,
    iqm_trimmed,
    mann_whitney_u,
    mean_iqm_ratio,
    probability_of_improvement,
    score_distribution,
    welch_t_test,
)
from mbpo.analysis.stats import NOT_ESTABLISHED, STATS_COLUMNS, compare

# ------------------------------------------------------------------------------------------------
# IQM
# ------------------------------------------------------------------------------------------------


def test_iqm_multiple_of_four():
    assert iqm(np.arange(1, 9)) == pytest.approx(4.5)  # mean of 3, 4, 5, 6
    assert iqm(np.array([8, 1, 7, 2, 6, 3, 5, 4])) == pytest.approx(4.5)  # order-free
    assert iqm(np.array([1, 2, 3, 4, 5, 6, 7, 1000])) == pytest.approx(4.5)  # outlier ignored


def test_iqm_not_multiple_of_four_uses_trim_mean_convention():
    # n=5: int(0.25*5)=1 cut per side -> mean of the middle 3 sorted values (3, 7, 10).
    assert iqm(np.array([10.0, 1.0, 7.0, 3.0, 100.0])) == pytest.approx(20.0 / 3.0)
    # n=10: int(2.5)=2 cut per side -> mean of 2..7.
    assert iqm(np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 100.0])) == pytest.approx(4.5)


def test_iqm_axis_and_pooled():
    x = np.column_stack([np.arange(1, 9), 10 * np.arange(1, 9)])  # (8, 2)
    np.testing.assert_allclose(iqm(x, axis=0), [4.5, 45.0])
    # Pooled over runs and tasks (rliable aggregate IQM): 16 values, cut 4 per side.
    pooled = np.sort(x.ravel())[4:12].mean()
    assert iqm(x, axis=None) == pytest.approx(pooled)
    assert float(aggregate_iqm(x)) == pytest.approx(pooled)
    batch = np.stack([x, 2 * x])  # (2, 8, 2)
    np.testing.assert_allclose(aggregate_iqm(batch), [pooled, 2 * pooled])
    np.testing.assert_allclose(aggregate_mean(batch), [x.mean(), 2 * x.mean()])


def test_iqm_rejects_nan():
    with pytest.raises(ValueError, match="NaN"):
        iqm(np.array([1.0, np.nan, 3.0, 4.0]))


# ------------------------------------------------------------------------------------------------
# Stratified bootstrap
# ------------------------------------------------------------------------------------------------


def test_stratified_bootstrap_resamples_within_tasks():
    runs, tasks = 6, 3
    # Disjoint value ranges per task; the value also encodes the run index (value - 100 * task).
    x = 100.0 * np.arange(tasks)[None, :] + np.arange(runs)[:, None]
    seen = []

    def record(resamples: np.ndarray) -> np.ndarray:
        seen.append(resamples.copy())
        return resamples.mean(axis=(-2, -1))

    record.vectorized = True
    point, lo, hi = stratified_bootstrap_ci(x, record, np.random.default_rng(0), n_resamples=500)
    res = np.concatenate(seen[1:])  # seen[0] is the point estimate on the data itself
    assert res.shape == (500, runs, tasks)
    for t in range(tasks):
        assert np.isin(res[:, :, t], x[:, t]).all(), "a resample mixed values across tasks"
    run_idx = res - 100.0 * np.arange(tasks)
    # Resampling with replacement actually happens, and independently per task.
    assert (run_idx != np.arange(runs)[:, None]).any()
    assert (run_idx[:, :, 0] != run_idx[:, :, 1]).any()
    # Each task's mean stays in its own range, so every resampled statistic is feasible.
    task_means = res.mean(axis=1)
    assert ((task_means >= 100 * np.arange(tasks)) & (task_means <= 100 * np.arange(tasks) + runs - 1)).all()
    assert point == pytest.approx(x.mean())
    assert lo <= point <= hi


def test_stratified_bootstrap_vectorized_matches_loop_and_is_deterministic():
    x = np.random.default_rng(1).normal(size=(7, 3))
    vec = stratified_bootstrap_ci(x, aggregate_iqm, np.random.default_rng(42), n_resamples=300)
    loop = stratified_bootstrap_ci(
        x, lambda a: iqm(a, axis=None), np.random.default_rng(42), n_resamples=300, vectorized=False
    )
    again = stratified_bootstrap_ci(x, aggregate_iqm, np.random.default_rng(42), n_resamples=300)
    other = stratified_bootstrap_ci(x, aggregate_iqm, np.random.default_rng(43), n_resamples=300)
    assert vec == loop == again
    assert vec[1:] != other[1:]
    assert vec[0] == pytest.approx(iqm(x, axis=None))


def test_stratified_bootstrap_coverage_of_the_mean():
    rng = np.random.default_rng(2024)
    true_mean, n, reps = 3.0, 20, 300
    covered = 0
    for _ in range(reps):
        sample = rng.normal(true_mean, 2.0, size=n)
        _, lo, hi = stratified_bootstrap_ci(sample, aggregate_mean, rng, n_resamples=2000)
        covered += lo <= true_mean <= hi
    assert 0.88 <= covered / reps <= 0.99


def test_stratified_bootstrap_width_matches_normal_theory():
    # Large n: the percentile CI of the mean approaches mean +- z * s / sqrt(n); a wrong quantile
    # (e.g. a 90% interval) would be ~16% narrower, beyond the 6% Monte Carlo tolerance used here.
    x = np.random.default_rng(5).normal(0.0, 1.0, size=(400, 1))
    point, lo, hi = stratified_bootstrap_ci(x, aggregate_mean, np.random.default_rng(6), n_resamples=4000)
    half = scipy.stats.norm.ppf(0.975) * x.std(ddof=0) / math.sqrt(x.shape[0])
    assert (point - lo) == pytest.approx(half, rel=0.06)
    assert (hi - point) == pytest.approx(half, rel=0.06)
    _, lo90, hi90 = stratified_bootstrap_ci(
        x, aggregate_mean, np.random.default_rng(6), n_resamples=4000, confidence=0.9
    )
    assert (hi90 - lo90) == pytest.approx(2 * half * 1.645 / 1.96, rel=0.06)


def test_stratified_bootstrap_one_dimensional_is_one_task():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    point, lo, hi = stratified_bootstrap_ci(x, np.mean, np.random.default_rng(0), n_resamples=200)
    assert point == 2.5
    assert 1.0 <= lo <= point <= hi <= 4.0


def test_stratified_bootstrap_input_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="NaN"):
        stratified_bootstrap_ci(np.array([[1.0, 2.0], [np.nan, 3.0]]), aggregate_mean, rng)
    with pytest.raises(ValueError, match=r"\(batch,\)"):
        stratified_bootstrap_ci(np.ones((3, 2)), np.mean, rng, n_resamples=10, vectorized=True)
    with pytest.raises(ValueError, match="confidence"):
        stratified_bootstrap_ci(np.ones(3), aggregate_mean, rng, confidence=95)


def test_two_sample_bootstrap_keeps_groups_apart():
    x, y = np.array([10.0, 11.0, 12.0]), np.array([0.0, 1.0])
    point, lo, hi = two_sample_bootstrap_ci(
        x, y, lambda a, b: a.mean(-1) - b.mean(-1), np.random.default_rng(0), n_resamples=500
    )
    assert point == pytest.approx(10.5)
    assert 9.0 <= lo <= point <= hi <= 12.0  # bounded by (min x - max y, max x - min y)


# ------------------------------------------------------------------------------------------------
# Tests and multiple-comparison correction
# ------------------------------------------------------------------------------------------------


def test_holm_hand_computed():
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> running max 0.06
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(holm([0.5, 0.6]), [1.0, 1.0])  # capped at 1
    np.testing.assert_allclose(holm([0.01, np.nan, 0.04]), [0.02, np.nan, 0.04])  # NaN not counted
    assert holm([]).shape == (0,)


def test_welch_t_test_matches_formula():
    a, b = np.array([1.0, 2.0, 4.0, 7.0]), np.array([3.0, 5.0, 9.0])
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    t = (a.mean() - b.mean()) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    assert welch_t_test(a, b) == pytest.approx(2 * scipy.stats.t.sf(abs(t), df))
    assert math.isnan(welch_t_test(a, np.array([3.0])))


def test_mann_whitney_exact_p():
    # Complete separation, 3 vs 3: two-sided exact p = 2 / C(6, 3) = 0.1.
    assert mann_whitney_u(np.array([4.0, 5.0, 6.0]), np.array([1.0, 2.0, 3.0])) == pytest.approx(0.1)


def test_probability_of_improvement_by_hand_with_ties():
    # pairs: 1<2,1<2 | 2=2,2=2 (0.5 each) | 3>2,3>2 -> 3/6
    assert probability_of_improvement(np.array([1, 2, 3]), np.array([2, 2])) == pytest.approx(0.5)
    # 3 vs (1,3,4): 1 + 0.5 + 0 ; 5 vs all: 3 -> 4.5/6
    assert probability_of_improvement(np.array([3, 5]), np.array([1, 3, 4])) == pytest.approx(0.75)
    assert probability_of_improvement(np.array([1, 1]), np.array([1, 1, 1])) == pytest.approx(0.5)
    assert probability_of_improvement(np.array([0]), np.array([1])) == 0.0
    batch = probability_of_improvement(np.array([[3, 5], [0, 0]]), np.array([[1, 3, 4], [1, 1, 1]]))
    np.testing.assert_allclose(batch, [0.75, 0.0])


def test_mean_iqm_ratio_is_exactly_one_for_the_baseline_against_itself():
    rng = np.random.default_rng(3)
    envs = [rng.normal(1000.0, 300.0, size=5), rng.lognormal(7.0, 1.0, size=5), rng.uniform(1, 9, size=3)]
    assert mean_iqm_ratio(envs, envs) == 1.0  # exactly, not approximately
    batch = [np.stack([x, x]) for x in envs]  # (2, n) per env: a batch of resamples
    np.testing.assert_array_equal(mean_iqm_ratio(batch, batch), [1.0, 1.0])
    # mean over envs of IQM ratios: (17.5 / 25 + 4 / 2) / 2
    got = mean_iqm_ratio(
        [np.array([10.0, 15, 20, 100]), np.array([4.0])], [np.array([10.0, 20, 30, 40]), np.array([2.0])]
    )
    assert got == pytest.approx((17.5 / 25 + 2.0) / 2)


def test_score_distribution_by_hand():
    scores = [np.array([0.5, 1.5]), np.array([1.0, 2.0, 3.0, 4.0])]
    # task 1: > 0, > 1, > 2 -> 1, 1/2, 0; task 2: 1, 3/4, 1/2; each task weighs the same.
    np.testing.assert_allclose(score_distribution(scores, np.array([0.0, 1.0, 2.0])), [1.0, 0.625, 0.25])
    batch = score_distribution([np.stack([x, x + 10]) for x in scores], np.array([2.0]))
    np.testing.assert_allclose(batch, [[0.25], [1.0]])


def test_iqm_trimmed_counts():
    assert [iqm_trimmed(n) for n in (1, 2, 3, 4, 5, 8, 10)] == [0, 0, 0, 1, 1, 2, 2]


def test_bootstrap_strata_keeps_each_group_and_its_rows():
    a = np.array([[0.0, 0.0], [1.0, 10.0], [2.0, 20.0]])  # (runs, 2): a run's two values stay together
    b = np.array([100.0, 200.0])
    seen = []

    def stat(s):
        seen.append(s)
        return s[0][..., 0].mean(-1) + s[1].mean(-1)

    boot = bootstrap_strata([a, b], stat, np.random.default_rng(0), n_resamples=300)
    assert boot.shape == (300,)
    ra, rb = np.concatenate([x[0] for x in seen]), np.concatenate([x[1] for x in seen])
    assert ra.shape == (300, 3, 2) and rb.shape == (300, 2)
    np.testing.assert_array_equal(ra[..., 1], 10 * ra[..., 0])  # rows resampled whole
    assert np.isin(rb, b).all() and np.isin(ra[..., 0], a[:, 0]).all()


# ------------------------------------------------------------------------------------------------
# Curves and sample efficiency
# ------------------------------------------------------------------------------------------------


def test_steps_to_reach_interpolates():
    steps, values = np.array([0, 10, 20, 30]), np.array([0.0, 5.0, 5.0, 15.0])
    assert steps_to_reach(steps, values, 10.0) == pytest.approx(25.0)  # between (20, 5) and (30, 15)
    assert steps_to_reach(steps, values, 2.5) == pytest.approx(5.0)
    assert steps_to_reach(steps, values, 5.0) == pytest.approx(10.0)  # exactly at an evaluation
    assert steps_to_reach(steps, values, -1.0) == 0.0
    assert steps_to_reach(steps, values, 15.0) == pytest.approx(30.0)
    assert steps_to_reach(steps, values, 15.01) is None
    with pytest.raises(ValueError, match="increasing"):
        steps_to_reach(np.array([0, 20, 10]), np.array([0.0, 1.0, 2.0]), 1.0)


def test_first_crossing_is_vectorized_steps_to_reach():
    steps = np.array([10.0, 20.0, 30.0])
    curves = np.array([[0.0, 5.0, 15.0], [20.0, 20.0, 20.0], [0.0, 1.0, 2.0]])
    np.testing.assert_allclose(first_crossing(steps, curves, np.array([10.0, 10.0, 10.0])), [25.0, 10.0, np.nan])


def test_sample_efficiency_hand_computed():
    steps = np.array([10.0, 20.0, 30.0])
    base = np.array([[0.0, 5.0, 10.0], [0.0, 5.0, 10.0]])  # SAC reaches its final 10 at 30 steps
    method = np.array([[5.0, 15.0, 15.0], [5.0, 15.0, 15.0]])  # MBPO reaches 10 halfway from 10 to 20
    rng = np.random.default_rng(0)
    eff = sample_efficiency(steps, base, np.array([10.0, 10.0]), steps, method, np.array([15.0, 15.0]), rng, 200)
    assert (eff.ratio, eff.threshold, eff.threshold_from) == (2.0, 10.0, "baseline")
    assert (eff.baseline_steps, eff.method_steps) == (30.0, 15.0)
    assert eff.ci_low == eff.ci_high == 2.0  # identical seeds: no spread

    # MBPO ends lower (7.5): the threshold is its final; SAC gets there at 25 steps, MBPO at 20.
    lower = sample_efficiency(steps, base, np.array([10.0, 10.0]), steps, method / 2, np.array([7.5, 7.5]), rng, 200)
    assert (lower.threshold, lower.threshold_from) == (7.5, "method")
    assert (lower.baseline_steps, lower.method_steps, lower.ratio) == (25.0, 20.0, 1.25)


def test_sample_efficiency_with_a_longer_baseline_thresholds_at_the_methods_final():
    """SAC trained 3x longer ends above MBPO's final: the ratio is read at MBPO's level, not bounded."""
    s_steps = np.array([10.0, 20.0, 30.0, 40.0, 50.0, 60.0])
    sac = np.array([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]] * 2)  # reaches 4 at 40 steps, ends at 6
    m_steps = np.array([10.0, 20.0])
    mbpo = np.array([[2.0, 4.0]] * 2)  # ends at 4 after 20 steps
    eff = sample_efficiency(s_steps, sac, sac[:, -1], m_steps, mbpo, mbpo[:, -1], np.random.default_rng(0), 200)
    assert (eff.threshold, eff.threshold_from, eff.baseline_steps, eff.method_steps) == (4.0, "method", 40.0, 20.0)
    assert eff.ratio == 2.0


def _plateau_runs(rng, seeds, rise_steps, budget=300_000, every=5_000, level=3000.0, spread=0.03, top=1.0):
    """(steps, curves (seeds, k)): linear rise reaching ``level`` (x a per-seed factor) at ``rise_steps``, then
    on to ``top`` x ``level`` and flat."""
    steps = np.arange(every, budget + 1, every, dtype=float)
    factor = rng.uniform(1 - spread, 1 + spread, size=(seeds, 1))
    return steps, level * factor * np.minimum(top, steps / rise_steps)


def test_sample_efficiency_of_a_clear_3x_is_3_with_a_ci_covering_3():
    """SAC reaches its plateau at 150k; MBPO passes the same level at 50k and goes on 20% higher."""
    rng = np.random.default_rng(11)
    s_steps, sac = _plateau_runs(rng, 5, rise_steps=150_000)
    m_steps, mbpo = _plateau_runs(rng, 5, rise_steps=50_000, top=1.2)
    eff = sample_efficiency(
        s_steps, sac, sac[:, -2:].mean(1), m_steps, mbpo, mbpo[:, -2:].mean(1), np.random.default_rng(0), 4000
    )
    assert eff.ratio == pytest.approx(3.0, rel=0.05) and eff.threshold_from == "baseline"
    assert eff.ci_low <= 3.0 <= eff.ci_high
    assert eff.ci_low > 1.0 and not eff.ci_includes_one


def test_sample_efficiency_at_a_shared_plateau_is_steady():
    """Equal asymptotes: whichever final IQM a resample puts lower is the threshold, which both curves reach
    at the start of their plateaus, so the ratio stays near 3 instead of flipping on which final is higher."""
    rng = np.random.default_rng(11)
    s_steps, sac = _plateau_runs(rng, 5, rise_steps=150_000)
    m_steps, mbpo = _plateau_runs(rng, 5, rise_steps=50_000)
    eff = sample_efficiency(
        s_steps, sac, sac[:, -2:].mean(1), m_steps, mbpo, mbpo[:, -2:].mean(1), np.random.default_rng(0), 2000
    )
    assert eff.ratio == pytest.approx(3.0, rel=0.05)
    assert eff.ci_low > 2.0 and eff.ci_high < 4.0


def test_sample_efficiency_of_a_tie_includes_one():
    rng = np.random.default_rng(12)
    s_steps, sac = _plateau_runs(rng, 5, rise_steps=150_000, spread=0.1)
    m_steps, mbpo = _plateau_runs(rng, 5, rise_steps=150_000, spread=0.1)
    eff = sample_efficiency(
        s_steps, sac, sac[:, -2:].mean(1), m_steps, mbpo, mbpo[:, -2:].mean(1), np.random.default_rng(0), 4000
    )
    assert eff.ci_includes_one


def test_curve_band_and_separation():
    mat = np.array([[0.0, 10.0, 20.0], [2.0, 12.0, 22.0], [4.0, 14.0, 24.0], [6.0, 16.0, 26.0]])  # (seeds, steps)
    point, lo, hi = curve_band(mat, np.random.default_rng(0), 500)
    np.testing.assert_allclose(point, [3.0, 13.0, 23.0])  # IQM of 4: the middle two
    assert (lo <= point).all() and (point <= hi).all() and (hi - lo > 0).all()
    mean, *_ = curve_band(mat, np.random.default_rng(0), 10, statistic="mean")
    np.testing.assert_allclose(mean, [3.0, 13.0, 23.0])
    steps = np.array([1.0, 2.0, 3.0])
    assert bands_separate(steps, (lo, hi), steps, (lo + 100, hi + 100))
    assert not bands_separate(steps, (lo, hi), steps, (lo + 1, hi + 1))
    assert not bands_separate(steps, (lo, hi), steps + 10, (lo + 100, hi + 100))  # no common step


def test_seed_matrix_interpolates_onto_the_common_grid():
    frame = pd.DataFrame({"seed": [0, 0, 0, 1, 1], "env_step": [0, 10, 20, 5, 15], "return": [0.0, 10, 20, 1, 1]})
    grid, mat, seeds = seed_matrix(frame)
    np.testing.assert_array_equal(grid, [5, 10, 15])
    np.testing.assert_allclose(mat, [[5.0, 10.0, 15.0], [1.0, 1.0, 1.0]])
    np.testing.assert_array_equal(seeds, [0, 1])


def test_iqm_curve_two_seeds_on_different_grids():
    curves = pd.DataFrame(
        {
            "seed": [0, 0, 0, 0, 1, 1, 1],
            "env_step": [0, 10, 20, 30, 5, 15, 25],
            "return": [0.0, 10.0, 20.0, 30.0, 0.0, 0.0, 0.0],
        }
    )
    out = iqm_curve(curves)
    assert list(out.columns) == ["env_step", "iqm", "mean", "n_seeds"]
    # Common range [5, 25]; grid = union of steps inside it. Seed 0 is y = x, seed 1 is 0.
    np.testing.assert_array_equal(out["env_step"], [5, 10, 15, 20, 25])
    np.testing.assert_allclose(out["mean"], [2.5, 5.0, 7.5, 10.0, 12.5])
    np.testing.assert_allclose(out["iqm"], out["mean"])  # 2 seeds: trim_mean cuts int(0.5) = 0
    assert (out["n_seeds"] == 2).all()

    given = iqm_curve(curves, step_grid=np.array([0, 10, 30]))
    np.testing.assert_allclose(given["mean"], [0.0, 5.0, 30.0])  # seed 1 only covers step 10
    np.testing.assert_array_equal(given["n_seeds"], [1, 2, 1])


def test_iqm_curve_takes_iqm_across_seeds():
    steps = [0, 10]
    rows = [(s, st, v * st) for s, v in enumerate([1.0, 2.0, 3.0, 100.0]) for st in steps]
    out = iqm_curve(pd.DataFrame(rows, columns=["seed", "env_step", "return"]))
    np.testing.assert_allclose(out["iqm"], [0.0, 25.0])  # middle two of 10, 20, 30, 1000
    np.testing.assert_allclose(out["mean"], [0.0, 265.0])


# ------------------------------------------------------------------------------------------------
# compare(): the stats.csv table
# ------------------------------------------------------------------------------------------------


def _synthetic_runs():
    """Two envs, 4 seeds each.

    env A: MBPO budget 100k, SAC 200k (budgets differ -> curves at 100k). Curves are linear between
    evaluations, MBPO ends at 400+s, SAC is 100+s at 100k and 200+2s at 200k.
    env B: both 100k. Finals SAC [10, 20, 30, 40], MBPO [10, 15, 20, 100]; curves [0, f/2, f].
    """
    summary, curves = [], []
    for s in range(4):
        for algo, budget, pts in (
            ("mbpo", 100_000, [(0, 0.0), (50_000, 300.0 + s), (100_000, 400.0 + s)]),
            ("sac", 200_000, [(0, 0.0), (100_000, 100.0 + s), (200_000, 200.0 + 2 * s)]),
        ):
            summary.append(("A", algo, "default", s, pts[-1][1], budget))
            curves += [("A", algo, "default", s, st, r) for st, r in pts]
    for s, (f_sac, f_mbpo) in enumerate(zip([10, 20, 30, 40], [10, 15, 20, 100], strict=True)):
        for algo, f in (("sac", f_sac), ("mbpo", f_mbpo)):
            summary.append(("B", algo, "default", s, float(f), 100_000))
            curves += [("B", algo, "default", s, st, f * st / 100_000) for st in (0, 50_000, 100_000)]
    summary = pd.DataFrame(summary, columns=["env", "algo", "variant", "seed", "final_return", "steps"])
    curves = pd.DataFrame(curves, columns=["env", "algo", "variant", "seed", "env_step", "return"])
    return summary, curves


def _frames(runs: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]], final_window: int = 2):
    """Summary and curves frames from {(env, algo): (steps, curves (seeds, k))}."""
    summary, curves = [], []
    for (env, algo), (steps, mat) in runs.items():
        for seed, values in enumerate(mat):
            summary.append((env, algo, "default", seed, float(values[-final_window:].mean()), int(steps[-1])))
            curves += [(env, algo, "default", seed, int(s), float(v)) for s, v in zip(steps, values, strict=True)]
    return (
        pd.DataFrame(summary, columns=["env", "algo", "variant", "seed", "final_return", "steps"]),
        pd.DataFrame(curves, columns=["env", "algo", "variant", "seed", "env_step", "return"]),
    )


def _get(out: pd.DataFrame, env: str, algo: str, metric: str) -> pd.Series:
    sel = out[(out["env"] == env) & (out["algo"] == algo) & (out["metric"] == metric)]
    assert len(sel) == 1, (env, algo, metric)
    return sel.iloc[0]


def test_compare_expected_rows_and_values():
    summary, curves = _synthetic_runs()
    out = compare(summary, curves, np.random.default_rng(0), n_resamples=500)
    assert list(out.columns) == STATS_COLUMNS
    per_group = {"mean_return", "iqm_return", "iqm_curve"}
    comps = {"iqm_ratio", "mean_difference", "prob_improvement", "sample_efficiency"}
    compared = {"iqm_return_compared", "baseline_iqm_return_compared"}  # where budgets differ: env A
    for env in ("A", "B"):
        assert set(out[(out["env"] == env) & (out["algo"] == "sac")]["metric"]) == per_group
        extra = compared if env == "A" else set()
        assert set(out[(out["env"] == env) & (out["algo"] == "mbpo")]["metric"]) == per_group | comps | extra
    every = out[out["env"] == "all"]
    assert set(every.loc[every["algo"] == "mbpo", "metric"]) == {"iqm_ratio", "prob_improvement", "performance_profile"}
    assert set(every.loc[every["algo"] == "sac", "metric"]) == {"performance_profile"}  # no SAC-vs-itself row
    scalar = out[out["at"].isna()]
    assert len(scalar) == 2 * (2 * 2 + 4) + 2
    assert np.isfinite(scalar["estimate"]).all()
    with_ci = scalar["metric"] != "sample_efficiency"
    assert np.isfinite(scalar.loc[with_ci, ["ci_low", "ci_high"]].to_numpy()).all()
    assert (scalar.loc[with_ci, "ci_low"] <= scalar.loc[with_ci, "estimate"] + 1e-12).all()
    assert (scalar.loc[with_ci, "estimate"] <= scalar.loc[with_ci, "ci_high"] + 1e-12).all()
    assert set(out["test"]) == {"", "welch_t", "mann_whitney_u"}
    assert set(out.loc[out["test"] == "welch_t", "metric"]) == {"mean_difference"}
    assert set(out.loc[out["test"] == "mann_whitney_u", "metric"]) == {"prob_improvement"}

    # Per-group rows use each group's own budget; the note says how many seeds the IQM trims.
    assert _get(out, "A", "sac", "mean_return")["estimate"] == pytest.approx(203.0)
    b_iqm = _get(out, "B", "mbpo", "iqm_return")
    assert b_iqm["estimate"] == pytest.approx(17.5) and "1 trimmed at each end" in b_iqm["note"]

    # IQM curves at every evaluated step, with bands.
    curve = out[(out["env"] == "B") & (out["algo"] == "sac") & (out["metric"] == "iqm_curve")]
    np.testing.assert_array_equal(curve["at"], [0, 50_000, 100_000])
    np.testing.assert_allclose(curve["estimate"], [0.0, 12.5, 25.0])

    # env A: compared at 100k from curves: MBPO 400..403 vs SAC 100..103.
    ratio = _get(out, "A", "mbpo", "iqm_ratio")
    assert ratio["estimate"] == pytest.approx(401.5 / 101.5)
    assert "compared at 100000 env steps" in ratio["note"]
    for metric, value in (("iqm_return_compared", 401.5), ("baseline_iqm_return_compared", 101.5)):
        assert (_get(out, "A", "mbpo", metric)[["at", "estimate"]] == [100_000, value]).all()
    pi_a = _get(out, "A", "mbpo", "prob_improvement")
    assert pi_a["estimate"] == 1.0
    assert pi_a["p_value"] == pytest.approx(2 / 70)  # Mann-Whitney, exact: complete separation 4 vs 4
    # SAC's final IQM 203 is reached by SAC's IQM curve at 200k, by MBPO's at its first evaluation, 50k.
    se_a = _get(out, "A", "mbpo", "sample_efficiency")
    assert se_a["estimate"] == pytest.approx(4.0)
    assert "threshold = SAC's final IQM 203 (the lower of the two)" in se_a["note"]

    # env B: equal budgets, summary finals. MBPO [10, 15, 20, 100] vs SAC [10, 20, 30, 40].
    assert _get(out, "B", "mbpo", "iqm_ratio")["estimate"] == pytest.approx(17.5 / 25.0)
    diff = _get(out, "B", "mbpo", "mean_difference")
    assert diff["estimate"] == pytest.approx(36.25 - 25.0)
    assert diff["p_value"] == pytest.approx(welch_t_test(np.array([10.0, 15, 20, 100]), np.array([10.0, 20, 30, 40])))
    pi_b = _get(out, "B", "mbpo", "prob_improvement")
    assert pi_b["estimate"] == pytest.approx(7 / 16)  # = U / (4 * 4), U = 7
    assert pi_b["p_value"] == pytest.approx(mann_whitney_u(np.array([10.0, 15, 20, 100]), np.array([10.0, 20, 30, 40])))
    # MBPO ends lower (IQM 17.5 vs SAC's 25), so the threshold is MBPO's final: SAC's IQM curve (12.5 at 50k,
    # 25 at 100k) reaches it at 70k, MBPO's (8.75 at 50k, 17.5 at 100k) at 100k.
    se_b = _get(out, "B", "mbpo", "sample_efficiency")
    assert se_b["estimate"] == pytest.approx(0.7)
    assert "threshold = MBPO's final IQM 17.5 (the lower of the two)" in se_b["note"]
    assert "reaches it at 70000 env steps" in se_b["note"] and se_b["note"].startswith(NOT_ESTABLISHED)

    # Holm across envs, per test.
    for metric in ("mean_difference", "prob_improvement"):
        p = [_get(out, env, "mbpo", metric)["p_value"] for env in ("A", "B")]
        held = [_get(out, env, "mbpo", metric)["p_value_holm"] for env in ("A", "B")]
        np.testing.assert_allclose(held, holm(p))

    # Across envs: the mean of the per-env IQM ratios and of the per-env P(improvement).
    assert _get(out, "all", "mbpo", "iqm_ratio")["estimate"] == pytest.approx((401.5 / 101.5 + 17.5 / 25.0) / 2)
    assert _get(out, "all", "mbpo", "prob_improvement")["estimate"] == pytest.approx((1.0 + 7 / 16) / 2)
    profile = out[(out["env"] == "all") & (out["algo"] == "sac") & (out["metric"] == "performance_profile")]
    assert profile["at"].iloc[0] == 0.0 and profile["estimate"].iloc[0] == 1.0  # every normalised score > 0
    assert (np.diff(profile["estimate"]) <= 0).all() and profile["n"].iloc[0] == 8


def test_unequal_budgets_compare_every_run_over_the_same_final_window():
    """MBPO stops at 100k (final window 80k-100k); SAC runs to 300k, evaluated every 10k with return
    step / 1000 + seed, so over 80k-100k it averages 90 + seed. A SAC run whose curve stops at 95k has no
    value at 100k: it is dropped, and the note says so."""
    steps = np.arange(10_000, 300_001, 10_000)
    summary, curves = [], []
    for seed in range(3):
        mbpo = [(s, 500.0 + seed) for s in steps[steps <= 100_000]]
        sac = [(s, s / 1000 + seed) for s in (steps if seed < 2 else steps[steps <= 95_000])]
        for algo, points, budget, start in (("mbpo", mbpo, 100_000, 80_000), ("sac", sac, 300_000, 280_000)):
            summary.append(("E", algo, "default", seed, points[-1][1], budget, start))
            curves += [("E", algo, "default", seed, s, r) for s, r in points]
    columns = ["env", "algo", "variant", "seed", "final_return", "steps", "window_start_step"]
    summary = pd.DataFrame(summary, columns=columns)
    curves = pd.DataFrame(curves, columns=["env", "algo", "variant", "seed", "env_step", "return"])
    out = compare(summary, curves, np.random.default_rng(0), n_resamples=200)
    difference = _get(out, "E", "mbpo", "mean_difference")
    assert difference["estimate"] == pytest.approx(501.0 - 90.5)  # MBPO's finals vs SAC's 90 and 91
    assert "evaluations at 80000-100000" in difference["note"] and "1 run(s) without curve data" in difference["note"]
    assert _get(out, "E", "mbpo", "baseline_iqm_return_compared")[["estimate", "n"]].tolist() == [90.5, 2]


def test_compare_never_compares_the_baseline_with_itself():
    summary, curves = _synthetic_runs()
    out = compare(summary, curves, np.random.default_rng(0), n_resamples=100, method=None)
    assert not out["comparison"].str.startswith("sac/default vs").any()
    sac_all = out[(out["env"] == "all") & (out["algo"] == "sac") & (out["variant"] == "default")]
    assert set(sac_all["metric"]) == {"performance_profile"}


def test_compare_tie_gives_not_established_and_3x_gives_3():
    rng = np.random.default_rng(5)
    runs = {
        ("tie", "sac"): _plateau_runs(rng, 5, rise_steps=150_000, spread=0.1),
        ("tie", "mbpo"): _plateau_runs(rng, 5, rise_steps=150_000, spread=0.1),
        ("fast", "sac"): _plateau_runs(rng, 5, rise_steps=150_000),
        ("fast", "mbpo"): _plateau_runs(rng, 5, rise_steps=50_000, top=1.2),
    }
    out = compare(*_frames(runs), np.random.default_rng(0), n_resamples=2000)
    tie = _get(out, "tie", "mbpo", "sample_efficiency")
    assert tie["note"].startswith(NOT_ESTABLISHED)
    fast = _get(out, "fast", "mbpo", "sample_efficiency")
    assert fast["estimate"] == pytest.approx(3.0, rel=0.05)
    assert fast["ci_low"] <= 3.0 <= fast["ci_high"] and fast["ci_low"] > 1.0
    assert not fast["note"].startswith(NOT_ESTABLISHED)


def test_compare_curves_that_never_separate_are_not_established(monkeypatch: pytest.MonkeyPatch):
    """A CI that excludes 1 is not enough when the IQM curves' bands overlap at every step."""
    rng = np.random.default_rng(5)
    runs = {("e", "sac"): _plateau_runs(rng, 5, 150_000), ("e", "mbpo"): _plateau_runs(rng, 5, 50_000, top=1.2)}
    clear = _get(compare(*_frames(runs), np.random.default_rng(0), 500), "e", "mbpo", "sample_efficiency")
    assert clear["ci_low"] > 1.0 and not clear["note"].startswith(NOT_ESTABLISHED)
    monkeypatch.setattr("mbpo.analysis.stats.bands_separate", lambda *args: False)
    row = _get(compare(*_frames(runs), np.random.default_rng(0), 500), "e", "mbpo", "sample_efficiency")
    assert row["ci_low"] > 1.0
    assert row["note"].startswith(f"{NOT_ESTABLISHED} (the IQM curves' CI bands overlap at every step)")


def test_compare_leaves_warmup_evaluations_out_of_curves():
    summary, curves = _synthetic_runs()
    marked = curves.assign(warmup=(curves["env_step"] == 0).astype(int), wall_time_s=curves["env_step"] / 100.0)
    out = compare(summary, marked, np.random.default_rng(0), n_resamples=100)
    curve = out[(out["env"] == "B") & (out["algo"] == "sac") & (out["metric"] == "iqm_curve")]
    np.testing.assert_array_equal(curve["at"], [50_000, 100_000])
    hours = out[(out["env"] == "B") & (out["algo"] == "sac") & (out["metric"] == "wall_clock_hours")]
    np.testing.assert_allclose(hours["estimate"], [500 / 3600, 1000 / 3600])


def test_compare_is_deterministic_given_rng():
    summary, curves = _synthetic_runs()
    a = compare(summary, curves, np.random.default_rng(7), n_resamples=200)
    b = compare(summary, curves, np.random.default_rng(7), n_resamples=200)
    c = compare(summary, curves, np.random.default_rng(8), n_resamples=200)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["ci_low"].fillna(0), c["ci_low"].fillna(0))


def test_compare_single_seed_gives_nan_with_note():
    summary, curves = _synthetic_runs()
    keep = ~((summary["algo"] == "mbpo") & (summary["seed"] > 0))
    c_keep = ~((curves["algo"] == "mbpo") & (curves["seed"] > 0))
    out = compare(summary[keep], curves[c_keep], np.random.default_rng(0), n_resamples=200)
    for env in ("A", "B"):
        for metric in ("mean_difference", "prob_improvement"):
            row = _get(out, env, "mbpo", metric)
            assert math.isnan(row["p_value"]) and math.isnan(row["p_value_holm"])
            assert "fewer than 2 seeds" in row["note"]
            assert np.isfinite(row["estimate"]) and math.isnan(row["ci_low"])
        grp = _get(out, env, "mbpo", "iqm_return")
        assert grp["n"] == 1 and "1 seed" in grp["note"] and math.isnan(grp["ci_low"])
        assert _get(out, env, "mbpo", "sample_efficiency")["note"].startswith(NOT_ESTABLISHED)


def test_compare_rejects_nan_final_return():
    summary, curves = _synthetic_runs()
    summary.loc[0, "final_return"] = np.nan
    with pytest.raises(ValueError, match="NaN final_return"):
        compare(summary, curves, np.random.default_rng(0), n_resamples=10)


def test_compare_variants_method_filter_and_missing_baseline():
    summary, curves = _synthetic_runs()
    b = summary[summary["env"] == "B"]
    ablation = b[b["algo"] == "sac"].assign(variant="no_ent", final_return=lambda d: d["final_return"] * 0.5)
    other = b[b["algo"] == "mbpo"].assign(algo="pets")
    no_base = b[b["algo"] == "mbpo"].assign(env="C")
    s = pd.concat([b, ablation, other, no_base], ignore_index=True)
    c = curves[curves["env"] == "B"]

    out = compare(s, c, np.random.default_rng(0), n_resamples=100)
    compared = set(out.loc[(out["env"] != "all") & (out["comparison"] != ""), "comparison"])
    assert compared == {"mbpo/default vs sac/default", "sac/no_ent vs sac/default"}
    ablation_ratio = out[(out["env"] == "B") & (out["variant"] == "no_ent") & (out["metric"] == "iqm_ratio")]
    assert ablation_ratio["estimate"].item() == pytest.approx(0.5)
    assert set(out.loc[out["env"] == "C", "metric"]) == {"mean_return", "iqm_return"}  # no baseline, no curves

    everything = compare(s, c, np.random.default_rng(0), n_resamples=100, method=None)
    assert "pets/default vs sac/default" in set(everything["comparison"])
