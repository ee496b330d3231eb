"""``results/stats.csv``: every number the report cites, one tidy row each, from the summary and the curves.

The estimators live in `estimators` (point estimates, tests), `bootstrap` (CIs) and `curves` (IQM curves,
sample efficiency); this module only decides which rows exist, on which runs each is computed, and what
its note says. Every random draw comes from the one ``np.random.Generator`` passed in, in a fixed order,
so the same inputs and seed give the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from mbpo.analysis.bootstrap import (
    bootstrap_strata,
    percentile_interval,
    stratified_bootstrap_ci,
    two_sample_bootstrap_ci,
)
from mbpo.analysis.curves import bands_separate, curve_band, sample_efficiency, seed_matrix
from mbpo.analysis.estimators import (
    aggregate_iqm,
    aggregate_mean,
    check_finite,
    holm,
    iqm,
    iqm_ratio,
    iqm_trimmed,
    mann_whitney_u,
    mean_difference,
    mean_iqm_ratio,
    mean_probability_of_improvement,
    probability_of_improvement,
    score_distribution,
    welch_t_test,
)
from mbpo.analysis.reference import ALGO_LABELS

STATS_COLUMNS = [
    "env",
    "algo",
    "variant",
    "comparison",
    "metric",
    "at",
    "estimate",
    "ci_low",
    "ci_high",
    "test",
    "p_value",
    "p_value_holm",
    "n",
    "note",
]
# The tests whose p-values are Holm-adjusted across envs (per comparison), and the rows they sit beside.
TESTS = {"mean_difference": "welch_t", "prob_improvement": "mann_whitney_u"}
PROFILE_POINTS = 41  # thresholds of a performance profile, evenly spaced from 0
NOT_ESTABLISHED = "not established"

_KEYS = ["env", "algo", "variant", "seed"]


def label(algo: str, variant: str) -> str:
    """A group as the notes name it: ``MBPO``, ``SAC (mbpo-entropy)``."""
    name = ALGO_LABELS.get(algo, algo)
    return name if variant == "default" else f"{name} ({variant})"


def _join(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


def iqm_note(n: int) -> str:
    """How the IQM of ``n`` seeds was taken: how many are trimmed at each end."""
    cut = iqm_trimmed(n)
    if cut == 0:
        return f"IQM of {n} seed{'s' if n != 1 else ''}: none trimmed below 4 seeds, so the mean"
    return f"IQM of {n} seeds: the {n - 2 * cut} middle ones ({cut} trimmed at each end)"


def learned_curves(curves: pd.DataFrame) -> pd.DataFrame:
    """The curves without evaluations logged during the random warm-up (``warmup == 1``), if marked."""
    if "warmup" not in curves.columns:
        return curves
    return curves[curves["warmup"].fillna(0).astype(int) != 1]


def _window_mean(curve: tuple[np.ndarray, np.ndarray] | None, start: float, end: float) -> float:
    """A run's mean return over its evaluations from ``start`` to ``end`` (its value at ``end``, linearly
    interpolated, if it has none there); NaN if its curve does not reach ``end``."""
    if curve is None:
        return np.nan
    s, v = curve
    if s.size == 0 or end < s[0] or end > s[-1]:
        return np.nan
    inside = (s >= start) & (s <= end)
    return float(v[inside].mean()) if inside.any() else float(np.interp(end, s, v))


def _aligned_finals(
    g: pd.DataFrame, b: pd.DataFrame, run_curves: dict[tuple, tuple[np.ndarray, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray, float, str]:
    """Final returns of group ``g`` and baseline ``b`` (runs in seed order) at an equal env-step budget, and
    that budget.

    Equal budgets everywhere: the summary's ``final_return`` (however the summary defines it). Otherwise both
    are compared at the smallest budget among them, each run by its mean return over the same window of env
    steps: the final-return window of the runs that stop there (which keep their ``final_return``), read off
    the longer runs' curves. A window rather than one evaluation, so the comparison is no noisier than the
    final returns beside it. Runs whose curve does not reach that budget are dropped, and the note says so.
    """
    steps = np.concatenate([g["steps"].to_numpy(dtype=float), b["steps"].to_numpy(dtype=float)])
    if np.unique(steps).size == 1:
        return g["final_return"].to_numpy(dtype=float), b["final_return"].to_numpy(dtype=float), steps[0], ""
    step = float(steps.min())
    shorter = pd.concat([g, b])
    shorter = shorter[shorter["steps"] == step]
    start = float(shorter["window_start_step"].min()) if "window_start_step" in shorter else step

    def read(frame: pd.DataFrame) -> np.ndarray:
        keys = zip(frame["env"], frame["algo"], frame["variant"], frame["seed"], strict=True)
        window = [_window_mean(run_curves.get(k), start, step) for k in keys]
        return np.where(frame["steps"] == step, frame["final_return"], window).astype(float)

    xg, xb = read(g), read(b)
    dropped = int(np.isnan(xg).sum() + np.isnan(xb).sum())
    note = (
        f"budgets differ ({g['steps'].max():.0f} vs {b['steps'].max():.0f} steps): compared at {step:.0f} env "
        f"steps, each run by its mean return over the evaluations at {start:.0f}-{step:.0f}, the final-return "
        "window of the runs that stop there"
    )
    if dropped:
        note += f"; {dropped} run(s) without curve data at that step dropped"
    return xg[~np.isnan(xg)], xb[~np.isnan(xb)], step, note


# --------------------------------------------------------------------------------------------------
# Rows of one group in one env
# --------------------------------------------------------------------------------------------------


def _group_rows(g: pd.DataFrame, rng: np.random.Generator, n_resamples: int, confidence: float) -> list[dict]:
    """``mean_return`` and ``iqm_return`` of one (env, algo, variant) at its own budget."""
    x = g["final_return"].to_numpy(dtype=float)
    budgets = g["steps"].unique()
    note = "" if budgets.size == 1 else f"runs have different budgets ({sorted(budgets.tolist())})"
    rows = []
    for metric, stat, what in (("mean_return", aggregate_mean, ""), ("iqm_return", aggregate_iqm, iqm_note(x.size))):
        if x.size >= 2:
            point, lo, hi = stratified_bootstrap_ci(x, stat, rng, n_resamples, confidence)
            rows.append(dict(metric=metric, estimate=point, ci_low=lo, ci_high=hi, n=x.size, note=_join(what, note)))
        else:
            rows.append(dict(metric=metric, estimate=x.mean(), n=x.size, note=_join(what, note, "1 seed: no CI")))
    return rows


def _curve_rows(
    c: pd.DataFrame, rng: np.random.Generator, n_resamples: int, confidence: float
) -> tuple[list[dict], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None]:
    """``iqm_curve`` (return) and ``wall_clock_hours`` rows at every evaluated step of one group.

    Returns the rows and the IQM curve as (steps, iqm, low, high) for the comparisons.
    """
    if c.empty:
        return [], None
    steps, mat, seeds = seed_matrix(c, "return")
    n = len(seeds)
    point, lo, hi = curve_band(mat, rng, n_resamples, confidence, "iqm")
    note = _join(iqm_note(n) + " at each step", "1 seed: no band" if n < 2 else "")
    rows = [
        dict(metric="iqm_curve", at=s, estimate=p, ci_low=a, ci_high=b, n=n, note=note)
        for s, p, a, b in zip(steps, point, lo, hi, strict=True)
    ]
    if "wall_time_s" in c.columns and np.isfinite(c["wall_time_s"].to_numpy(dtype=float)).all():
        hours = c.assign(hours=c["wall_time_s"] / 3600.0)
        h_steps, h_mat, _ = seed_matrix(hours, "hours", steps)
        h_point, h_lo, h_hi = curve_band(h_mat, rng, n_resamples, confidence, "mean")
        note = _join("mean over seeds of the training wall-clock hours when this step was evaluated", note)
        rows += [
            dict(metric="wall_clock_hours", at=s, estimate=p, ci_low=a, ci_high=b, n=n, note=note)
            for s, p, a, b in zip(h_steps, h_point, h_lo, h_hi, strict=True)
        ]
    return rows, (steps, point, lo, hi)


# --------------------------------------------------------------------------------------------------
# One group vs the baseline in one env
# --------------------------------------------------------------------------------------------------


def _comparison_rows(
    xg: np.ndarray,
    xb: np.ndarray,
    align_note: str,
    rng: np.random.Generator,
    n_resamples: int,
    confidence: float,
) -> list[dict]:
    """``iqm_ratio``, ``mean_difference`` (Welch p) and ``prob_improvement`` (Mann–Whitney p)."""
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
        rows.append(dict(metric="iqm_ratio", **boot(iqm_ratio), n=n, note=note))
    else:
        rows.append(dict(metric="iqm_ratio", estimate=np.nan, n=n, note=_join(note, "baseline IQM <= 0")))

    p = np.nan if few else welch_t_test(xg, xb)
    t_note = "" if few or np.isfinite(p) else "test undefined (zero variance)"
    difference = boot(mean_difference)
    rows.append(dict(metric="mean_difference", **difference, test="welch_t", p_value=p, n=n, note=_join(note, t_note)))
    p = np.nan if few else mann_whitney_u(xg, xb)
    rows.append(
        dict(
            metric="prob_improvement",
            **boot(probability_of_improvement),
            test="mann_whitney_u",
            p_value=p,
            n=n,
            note=note,
        )
    )
    return rows


def _compared_iqm_rows(
    xg: np.ndarray,
    xb: np.ndarray,
    step: float,
    align_note: str,
    rng: np.random.Generator,
    n_resamples: int,
    confidence: float,
) -> list[dict]:
    """``iqm_return_compared`` and ``baseline_iqm_return_compared`` (``at`` = the shared budget): where budgets
    differ, the group's and the baseline's IQM over the returns that the comparison rows compare."""
    rows = []
    for metric, x in (("iqm_return_compared", xg), ("baseline_iqm_return_compared", xb)):
        note = _join(align_note, iqm_note(x.size))
        if x.size >= 2:
            point, lo, hi = stratified_bootstrap_ci(x, aggregate_iqm, rng, n_resamples, confidence)
            rows.append(dict(metric=metric, at=step, estimate=point, ci_low=lo, ci_high=hi, n=x.size, note=note))
        else:
            estimate = x.mean() if x.size else np.nan
            rows.append(dict(metric=metric, at=step, estimate=estimate, n=x.size, note=_join(note, "no CI")))
    return rows


def _efficiency_row(
    method: str,
    baseline: str,
    c_group: pd.DataFrame,
    c_base: pd.DataFrame,
    group_summary: pd.DataFrame,
    base_summary: pd.DataFrame,
    bands: tuple | None,
    base_bands: tuple | None,
    rng: np.random.Generator,
    n_resamples: int,
    confidence: float,
) -> dict:
    """``sample_efficiency``: env steps the baseline needs to reach the lower of the two final IQMs / steps
    the group needs."""
    row: dict = dict(metric="sample_efficiency", estimate=np.nan)
    if c_group.empty or c_base.empty or bands is None or base_bands is None:
        return row | dict(n=0, note=_join(NOT_ESTABLISHED, "no curves"))
    # An evaluation before any env step cannot be "reached after x steps": ratios need positive steps.
    c_base, c_group = c_base[c_base["env_step"] > 0], c_group[c_group["env_step"] > 0]
    if c_group.empty or c_base.empty:
        return row | dict(n=0, note=_join(NOT_ESTABLISHED, "no evaluations after env step 0"))
    b_steps, b_mat, b_seeds = seed_matrix(c_base, "return")
    g_steps, g_mat, g_seeds = seed_matrix(c_group, "return")

    def finals(summary: pd.DataFrame, seeds: np.ndarray) -> np.ndarray:
        return summary.set_index("seed").loc[seeds, "final_return"].to_numpy(dtype=float)

    eff = sample_efficiency(
        b_steps, b_mat, finals(base_summary, b_seeds), g_steps, g_mat, finals(group_summary, g_seeds),
        rng, n_resamples, confidence,
    )  # fmt: skip
    separate = bands_separate(bands[0], bands[2:], base_bands[0], base_bands[2:])
    owner = baseline if eff.threshold_from == "baseline" else method
    facts = (
        f"threshold = {owner}'s final IQM {eff.threshold:.6g} (the lower of the two); "
        f"{baseline}'s IQM curve reaches it at {eff.baseline_steps:.0f} env steps (budget {b_steps[-1]:.0f}), "
        f"{method}'s at {eff.method_steps:.0f} (budget {g_steps[-1]:.0f})"
    )
    if len(b_seeds) < 2 or len(g_seeds) < 2:
        verdict = f"{NOT_ESTABLISHED} (fewer than 2 seeds: no CI)"
    elif eff.ci_includes_one:
        verdict = f"{NOT_ESTABLISHED} (CI includes 1)"
    elif not separate:
        verdict = f"{NOT_ESTABLISHED} (the IQM curves' CI bands overlap at every step)"
    else:
        verdict = ""
    return row | dict(
        estimate=eff.ratio,
        ci_low=eff.ci_low,
        ci_high=eff.ci_high,
        n=min(len(b_seeds), len(g_seeds)),
        note=_join(verdict, facts),
    )


# --------------------------------------------------------------------------------------------------
# Across envs
# --------------------------------------------------------------------------------------------------


def _across_env_row(
    metric: str,
    stat: Callable[[list[np.ndarray], list[np.ndarray]], np.ndarray],
    pairs: dict[str, tuple[np.ndarray, np.ndarray]],
    what: str,
    rng: np.random.Generator,
    n_resamples: int,
    confidence: float,
) -> dict:
    """One ``env = "all"`` row: ``stat`` of the per-env (group, baseline) finals, stratified bootstrap CI.

    The bootstrap resamples seeds within every (env, group) stratum.
    """
    envs = sorted(pairs)
    groups, bases = [pairs[e][0] for e in envs], [pairs[e][1] for e in envs]
    row = dict(metric=metric, estimate=float(stat(groups, bases)), n=sum(g.size for g in groups))
    if min(x.size for x in (*groups, *bases)) < 2:
        return row | dict(note=_join(what, "fewer than 2 seeds somewhere: no CI"))
    k = len(envs)
    boot = bootstrap_strata([*groups, *bases], lambda s: stat(s[:k], s[k:]), rng, n_resamples)
    lo, hi = percentile_interval(boot, confidence)
    return row | dict(ci_low=float(lo), ci_high=float(hi), note=what)


def _across_envs_rows(
    pairs: dict[str, tuple[np.ndarray, np.ndarray]],
    group: str,
    baseline: str,
    rng: np.random.Generator,
    n_resamples: int,
    confidence: float,
) -> list[dict]:
    """``iqm_ratio`` (mean over envs of per-env IQM ratios) and ``prob_improvement`` (mean over envs).

    P(improvement) is scale-free, so it averages every env with comparable runs; the IQM ratio only envs
    where the baseline's IQM is positive (a ratio to a negative return means nothing). The baseline
    against itself is exactly 1 and 0.5 by construction, so it gets no such rows.
    """

    def scope(envs: list[str]) -> str:
        return f"mean over {len(envs)} env(s) ({', '.join(envs)})"

    positive = {e: p for e, p in pairs.items() if iqm(p[1]) > 0}
    rows = []
    if positive:
        left_out = [
            f"{e} left out ({baseline}'s IQM {iqm(pairs[e][1]):.4g} <= 0)" for e in sorted(set(pairs) - set(positive))
        ]
        what = _join(
            f"{scope(sorted(positive))} of IQM({group}) / IQM({baseline}), so {baseline} against itself is 1", *left_out
        )
        rows.append(_across_env_row("iqm_ratio", mean_iqm_ratio, positive, what, rng, n_resamples, confidence))
    what = f"{scope(sorted(pairs))} of P({group} run > {baseline} run)"
    improvement = mean_probability_of_improvement
    rows.append(_across_env_row("prob_improvement", improvement, pairs, what, rng, n_resamples, confidence))
    return rows


def _profile_rows(
    normalised: dict[str, np.ndarray], left_out: list[str], baseline: str, taus: np.ndarray,
    rng: np.random.Generator, n_resamples: int, confidence: float,
) -> list[dict]:  # fmt: skip
    """``performance_profile`` at each threshold: share of runs above it, averaged over envs."""
    envs = sorted(normalised)
    scores = [normalised[e] for e in envs]
    point = score_distribution(scores, taus)
    if min(s.size for s in scores) >= 2:
        boot = bootstrap_strata(scores, lambda s: score_distribution(s, taus), rng, n_resamples)  # (B, k)
        lo, hi = percentile_interval(boot, confidence)
    else:
        lo = hi = np.full(taus.size, np.nan)
    note = _join(
        f"share of runs with final return / ({baseline}'s final IQM in their env) above `at`, "
        f"mean over {len(envs)} env(s) ({', '.join(envs)}); normaliser fixed in the bootstrap",
        *left_out,
    )
    n = sum(s.size for s in scores)
    return [
        dict(metric="performance_profile", at=t, estimate=p, ci_low=a, ci_high=b, n=n, note=note)
        for t, p, a, b in zip(taus, point, lo, hi, strict=True)
    ]


# --------------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------------


def _check_inputs(summary: pd.DataFrame, curves: pd.DataFrame) -> None:
    need_s = {"env", "algo", "variant", "seed", "final_return", "steps"}
    need_c = {"env", "algo", "variant", "seed", "env_step", "return"}
    if need_s - set(summary.columns):
        raise ValueError(f"summary is missing columns {sorted(need_s - set(summary.columns))}")
    if need_c - set(curves.columns):
        raise ValueError(f"curves is missing columns {sorted(need_c - set(curves.columns))}")
    if summary.duplicated(_KEYS).any():
        dup = summary.loc[summary.duplicated(_KEYS), _KEYS].iloc[0].to_dict()
        raise ValueError(f"summary has duplicate runs, e.g. {dup}")
    nan_runs = summary.loc[summary["final_return"].isna() | summary["steps"].isna(), _KEYS]
    if len(nan_runs):
        raise ValueError(
            f"summary has NaN final_return/steps for {len(nan_runs)} run(s), e.g. "
            f"{nan_runs.iloc[0].to_dict()}; drop failed runs explicitly"
        )
    check_finite(curves["return"].to_numpy(dtype=float), "curves['return']")


def profile_thresholds(normalised: list[np.ndarray]) -> np.ndarray:
    """Thresholds of the performance profiles: 0 to just past the best normalised score (at least 1.5)."""
    top = max([1.5, *(float(np.max(x)) * 1.05 for x in normalised if x.size)])
    return np.linspace(0.0, np.ceil(top * 4) / 4, PROFILE_POINTS)


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
        curves: tidy learning curves; columns ``env, algo, variant, seed, env_step, return`` and
            optionally ``wall_time_s`` and ``warmup`` (warm-up evaluations are left out of every curve).
        rng: the only randomness; identical inputs and generator state give an identical table.

    Rows (columns ``STATS_COLUMNS``; ``comparison`` is "" for single-group rows, otherwise
    ``"algo/variant vs baseline/default"``; ``at`` is the x of curve-like rows, NaN elsewhere;
    ``test`` names the test whose
    ``p_value`` sits beside the estimate; NaN where not applicable):
        * per (env, algo, variant): ``mean_return`` and ``iqm_return`` of ``final_return`` at that
          group's own budget, with stratified bootstrap CIs (``n`` = seeds; the note says how many
          seeds the IQM trims); ``iqm_curve`` at every evaluated step (``at`` = env step; IQM over
          seeds with a bootstrap band, seeds' whole curves resampled); ``wall_clock_hours`` at the
          same steps (mean over seeds; only when every evaluation logged its wall-clock).
        * per env, for every compared group vs the baseline group (``algo == baseline``,
          ``variant == "default"``), at equal env steps:
            - ``iqm_ratio``: IQM(group) / IQM(baseline), two-sample bootstrap CI (NaN with a note
              if the baseline IQM is <= 0, where a ratio is meaningless);
            - ``mean_difference``: mean(group) - mean(baseline), bootstrap CI; ``test`` = ``welch_t``;
            - ``prob_improvement``: P(group run > baseline run), bootstrap CI; ``test`` =
              ``mann_whitney_u`` (which tests exactly P = 0.5);
            - ``sample_efficiency``: env steps the baseline's IQM curve needs to reach the lower of
              the two final IQMs / env steps the group's IQM curve needs (see
              `curves.sample_efficiency`; each group at its own budget, so a baseline trained longer
              still gives a point estimate), bootstrap CI over seeds. The note states the threshold,
              whose it is, and both step counts, and starts with "not established" when
              the CI includes 1, the two IQM curves' CI bands overlap at every step, or a group
              has fewer than 2 seeds.
            - where budgets differ: ``iqm_return_compared`` and ``baseline_iqm_return_compared``, the
              two IQMs at the budget they share (``at``), over the returns the rows above compare
              (see `_aligned_finals`), with stratified bootstrap CIs.
          ``n`` = min(seeds of group, seeds of baseline). ``p_value_holm``: Holm across envs,
          separately per test and per comparison.
        * ``env = "all"``, per compared group: ``iqm_ratio`` = mean over envs of the per-env IQM
          ratios (envs where the baseline's IQM is <= 0 left out, noted) and ``prob_improvement`` =
          mean over envs of per-env P(improvement), each with a bootstrap CI resampling seeds within
          every (env, group). The baseline vs itself would be exactly 1 and 0.5, so it has no such
          rows.
        * ``env = "all"``, per group (the baseline included): ``performance_profile`` at
          ``PROFILE_POINTS`` thresholds (``at``): the share of runs whose final return, divided by
          the baseline's final IQM in the same env, exceeds ``at``, averaged over envs (rliable's
          score distribution), with a stratified bootstrap band.

    Compared groups: every variant of ``method`` and every non-default variant of ``baseline``;
    ``method=None`` compares every group other than the baseline group. Envs without baseline runs
    get no comparison rows. NaN ``final_return``/``steps``/curve returns raise ``ValueError``.
    """
    _check_inputs(summary, curves)
    summary = summary.sort_values(_KEYS, kind="stable").reset_index(drop=True)
    curves = learned_curves(curves)
    run_curves: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
    for key, c in curves.groupby(_KEYS, sort=True):
        c = c.groupby("env_step", sort=True)["return"].mean()
        run_curves[key] = (c.index.to_numpy(dtype=float), c.to_numpy(dtype=float))

    base_key = (baseline, "default")
    base_label = label(*base_key)
    rows: list[dict] = []
    pairs: dict[tuple, dict[str, tuple[np.ndarray, np.ndarray]]] = {}  # group -> env -> (group, baseline)
    normalised: dict[tuple, dict[str, np.ndarray]] = {}  # group -> env -> finals / baseline IQM
    left_out: dict[tuple, list[str]] = {}  # group -> envs missing from its performance profile, and why

    def add(env: str, algo: str, variant: str, comparison: str, new: list[dict]) -> None:
        rows.extend(dict(env=env, algo=algo, variant=variant, comparison=comparison, **r) for r in new)

    for env, s_env in summary.groupby("env", sort=True):
        groups = dict(iter(s_env.groupby(["algo", "variant"], sort=True)))
        c_env = curves[curves["env"] == env]
        group_curves, bands = {}, {}
        for (algo, variant), g in groups.items():
            add(env, algo, variant, "", _group_rows(g, rng, n_resamples, confidence))
            c = c_env[(c_env["algo"] == algo) & (c_env["variant"] == variant)]
            group_curves[(algo, variant)] = c
            curve_rows, bands[(algo, variant)] = _curve_rows(c, rng, n_resamples, confidence)
            add(env, algo, variant, "", curve_rows)

        base = groups.get(base_key)
        if base is None:
            continue
        for (algo, variant), g in groups.items():
            if (algo, variant) == base_key:
                xg = xb = base["final_return"].to_numpy(dtype=float)
                common, align_note = np.nan, ""
            else:
                xg, xb, common, align_note = _aligned_finals(g, base, run_curves)
            base_iqm = iqm(xb) if xb.size else np.nan
            if xg.size and xb.size:
                pairs.setdefault((algo, variant), {})[env] = (xg, xb)
            if xg.size and xb.size and base_iqm > 0:
                normalised.setdefault((algo, variant), {})[env] = xg / base_iqm
            else:
                why = "no comparable runs" if not (xg.size and xb.size) else f"{base_label}'s IQM {base_iqm:.4g} <= 0"
                left_out.setdefault((algo, variant), []).append(f"{env} left out ({why})")
            compared = (algo, variant) != base_key and (
                method is None or algo == method or (algo == baseline and variant != "default")
            )
            if not compared:
                continue
            comp = f"{algo}/{variant} vs {baseline}/default"
            add(env, algo, variant, comp, _comparison_rows(xg, xb, align_note, rng, n_resamples, confidence))
            if align_note:  # budgets differ: the two IQMs the ratio divides, at the budget they share
                add(
                    env,
                    algo,
                    variant,
                    comp,
                    _compared_iqm_rows(xg, xb, common, align_note, rng, n_resamples, confidence),
                )
            eff = _efficiency_row(
                label(algo, variant), base_label, group_curves[(algo, variant)], group_curves[base_key], g, base,
                bands[(algo, variant)], bands[base_key], rng, n_resamples, confidence,
            )  # fmt: skip
            add(env, algo, variant, comp, [eff])

    for (algo, variant), per_env in sorted(pairs.items()):
        if (algo, variant) == base_key:
            continue
        comp = f"{algo}/{variant} vs {baseline}/default"
        new = _across_envs_rows(per_env, label(algo, variant), base_label, rng, n_resamples, confidence)
        add("all", algo, variant, comp, new)
    taus = profile_thresholds([x for per_env in normalised.values() for x in per_env.values()])
    for (algo, variant), per_env in sorted(normalised.items()):
        notes = left_out.get((algo, variant), [])
        add("all", algo, variant, "", _profile_rows(per_env, notes, base_label, taus, rng, n_resamples, confidence))

    out = pd.DataFrame(rows).reindex(columns=STATS_COLUMNS)
    # Scalar rows first, then the curve-like rows (``at`` set), each in the order they were made.
    out = out.iloc[np.argsort(out["at"].notna().to_numpy(), kind="stable")].reset_index(drop=True)
    for col in ("at", "estimate", "ci_low", "ci_high", "p_value", "p_value_holm"):
        out[col] = out[col].astype(float)
    for col in ("test", "note"):
        out[col] = pd.Series(["" if pd.isna(v) else str(v) for v in out[col]], index=out.index, dtype=str)
    out["n"] = out["n"].astype(int)
    for metric, test in TESTS.items():  # Holm across envs, separately per test and per comparison
        tests = out[(out["metric"] == metric) & (out["test"] == test) & (out["env"] != "all")]
        for idx in tests.groupby(["algo", "variant", "comparison"]).groups.values():
            out.loc[idx, "p_value_holm"] = holm(out.loc[idx, "p_value"].to_numpy())
    return out
