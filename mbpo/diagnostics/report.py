"""``reports/model_error.md`` and its figures, from the diagnostics files of many MBPO runs.

Errors are shown as normalised RMS errors (the square root of the seed-averaged ``state_err``: an error of
0.25 is a quarter of the spread of the states in the buffer). On that scale a constant per-step bias that
the dynamics neither amplify nor damp grows exactly as ε·k, the design note's §2.1 law, with ε the error
at k = 1; the measured curve is compared with that line. Figures are plain ``matplotlib.figure.Figure``
objects rendered by Agg.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
import yaml
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from mbpo.diagnostics.files import BOUND_FILE, MODEL_ERROR_FILE

THRESHOLDS = (0.1, 0.25, 0.5)  # trustworthy-horizon thresholds, in units of the state's spread
HEADLINE_THRESHOLD = 0.25
MAX_STAGES = 4
KIND_LABELS = {"mean": "one-step, iterated (mean)", "sample": "one-step, iterated (sampled)", "direct": "direct k-step"}
KIND_COLORS = {"mean": "#1f5fa8", "sample": "#7fa7d6", "direct": "#c0392b"}


def figure_names(envs: Sequence[str]) -> list[str]:
    """The figure files `write_report` always writes (the workflow declares them as outputs)."""
    return [f"model_error_{env}.png" for env in envs] + ["model_error_direct.png", "rollout_bound.png"]


def _steps(value: float) -> str:
    return f"{value / 1e3:.4g}k" if value >= 1e3 else f"{value:g}"


# ---------------------------------------------------------------------------------------------- loading


@dataclass
class Diagnostics:
    """Tidy frames over runs, each with ``env, variant, seed`` first.

    ``errors``: model_error.csv rows; ``bound``: rollout_bound.csv rows; ``fits``: one row per run with the
    seconds spent fitting the model (the sum of metrics.csv's ``time/model_s``), the number of fits and
    the run's wall-clock seconds.
    ``missing``: run dirs without diagnostics files (diagnostics off, or no pass yet).
    """

    errors: pd.DataFrame
    bound: pd.DataFrame
    fits: pd.DataFrame
    missing: list[str]


def load(run_dirs: Sequence[str | Path]) -> Diagnostics:
    errors, bounds, fits, missing = [], [], [], []
    for run_dir in map(Path, run_dirs):
        cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
        key = {"env": cfg["env"], "variant": cfg.get("variant", "default"), "seed": cfg["seed"]}
        if not (run_dir / MODEL_ERROR_FILE).exists() or not (run_dir / BOUND_FILE).exists():
            missing.append(str(run_dir))
            continue
        errors.append(pd.read_csv(run_dir / MODEL_ERROR_FILE).assign(**key))
        bounds.append(pd.read_csv(run_dir / BOUND_FILE).assign(**key))
        metrics = pd.read_csv(run_dir / "metrics.csv")
        last_step = int(metrics["env_step"].max()) if len(metrics) else 0
        learning = last_step - 1 - cfg.get("init_exploration_steps", 0)
        fits.append(
            {
                **key,
                "fit_seconds": metrics["time/model_s"].sum() if "time/model_s" in metrics else math.nan,
                "n_fits": learning // cfg["model_train_freq"] + 1 if learning >= 0 else 0,
                "wall_seconds": metrics["wall_time_s"].max() if len(metrics) else math.nan,
            }
        )
    cols = ["env", "variant", "seed"]

    def frame(parts: list[pd.DataFrame]) -> pd.DataFrame:
        if not parts:
            return pd.DataFrame(columns=cols)
        data = pd.concat(parts, ignore_index=True)
        return data[cols + [c for c in data.columns if c not in cols]]

    fits_frame = pd.DataFrame(fits) if fits else pd.DataFrame(columns=cols)
    return Diagnostics(frame(errors), frame(bounds), fits_frame, missing)


# ---------------------------------------------------------------------------------------------- reading


def seed_mean(errors: pd.DataFrame) -> pd.DataFrame:
    """Seed-averaged errors per (env, variant, env_step, kind, k), as RMS: ``state_rmse`` etc."""
    if errors.empty:
        return pd.DataFrame(
            columns=["env", "variant", "env_step", "kind", "k", "state_rmse", "reward_rmse", "return_rmse"]
        )
    keys = ["env", "variant", "env_step", "kind", "k"]
    mean = errors.groupby(keys, as_index=False).agg(
        state_err=("state_err", "mean"),
        reward_err=("reward_err", "mean"),
        return_err=("return_err", "mean"),
        n_segments=("n_segments", "sum"),
        seeds=("seed", "nunique"),
    )
    for name in ("state", "reward", "return"):
        mean[f"{name}_rmse"] = np.sqrt(mean[f"{name}_err"])
    return mean


def stages(env_steps: Sequence[int], n: int = MAX_STAGES) -> list[int]:
    """Up to ``n`` pass env steps spread over training: the first, the last and evenly between."""
    steps = sorted(set(int(s) for s in env_steps))
    if len(steps) <= n:
        return steps
    return [steps[i] for i in sorted(set(np.linspace(0, len(steps) - 1, n).round().astype(int)))]


@dataclass(frozen=True)
class Growth:
    """How one error-vs-k curve grows. ``eps``: RMS error at k=1; ``exponent``: p of a log-log fit
    ``rmse ≈ eps k^p`` (1 = the linear ε·k law); ``ratio``: rmse / (eps k) at the largest measured k."""

    eps: float
    exponent: float
    ratio: float
    k_max: int


def growth(k: np.ndarray, rmse: np.ndarray) -> Growth:
    """``k`` ascending from 1 and the RMS errors there (finite, > 0 where fitted)."""
    ok = np.isfinite(rmse) & (rmse > 0)
    if not ok.any() or k[0] != 1 or not ok[0]:
        return Growth(math.nan, math.nan, math.nan, int(k[-1]) if len(k) else 0)
    eps = float(rmse[0])
    exponent = float(np.polyfit(np.log(k[ok]), np.log(rmse[ok]), 1)[0]) if ok.sum() >= 2 else math.nan
    last = np.flatnonzero(np.isfinite(rmse))[-1]
    return Growth(eps, exponent, float(rmse[last] / (eps * k[last])), int(k[last]))


def trust_horizon(k: np.ndarray, rmse: np.ndarray, threshold: float) -> tuple[int, bool]:
    """The largest k before the error first exceeds ``threshold`` (0 if k=1 already does), and whether the
    error crossed at all within the measured k (if not, the horizon is at least the returned k)."""
    above = np.flatnonzero(~(rmse <= threshold))  # NaN/inf count as untrustworthy
    if len(above) == 0:
        return int(k[-1]), False
    return int(k[above[0]] - 1), True


def _curve(mean: pd.DataFrame, env: str, variant: str, step: int, kind: str) -> pd.DataFrame:
    rows = mean[(mean["env"] == env) & (mean["variant"] == variant) & (mean["env_step"] == step)]
    return rows[rows["kind"] == kind].sort_values("k")


def _main_variant(frame: pd.DataFrame, env: str) -> str | None:
    variants = frame.loc[frame["env"] == env, "variant"].unique().tolist()
    if not variants:
        return None
    return "default" if "default" in variants else sorted(variants)[0]


def late_passes(steps: Sequence[int]) -> list[int]:
    """The second half of the passes (at least the last one): where the comparison reflects a trained model."""
    steps = sorted(set(int(s) for s in steps))
    return steps[len(steps) // 2 :]


# ---------------------------------------------------------------------------------------------- figures


def _no_data(ax: Axes, title: str) -> None:
    ax.text(0.5, 0.5, "no diagnostics data", ha="center", va="center", transform=ax.transAxes, color="#777777")
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])


def error_vs_k_figure(mean: pd.DataFrame, env: str) -> Figure:
    """State and reward error vs k at up to four training stages; dotted: ε·k from each stage's k = 1."""
    fig = Figure(figsize=(11, 4.6))
    ax_state, ax_reward = fig.subplots(1, 2)
    variant = _main_variant(mean, env)
    if variant is None:
        _no_data(ax_state, f"{env}: state")
        _no_data(ax_reward, f"{env}: reward")
        return fig
    data = mean[(mean["env"] == env) & (mean["variant"] == variant)]
    chosen = stages(data.loc[data["kind"] == "mean", "env_step"])
    colors = dict(zip(chosen, sns.color_palette("viridis", len(chosen)), strict=True))
    for step in chosen:
        label = f"env step {_steps(step)}"
        for kind, style in (("mean", "-"), ("sample", "--")):
            curve = _curve(mean, env, variant, step, kind)
            if curve.empty:
                continue
            for ax, column in ((ax_state, "state_rmse"), (ax_reward, "reward_rmse")):
                ax.plot(curve["k"], curve[column], style, color=colors[step], lw=2 if kind == "mean" else 1.2,
                        label=f"{label}, {kind}")  # fmt: skip
            if kind == "mean":
                g = growth(curve["k"].to_numpy(), curve["state_rmse"].to_numpy())
                ax_state.plot(curve["k"], g.eps * curve["k"], ":", color=colors[step], lw=1.2)
    ax_state.axhline(HEADLINE_THRESHOLD, color="#999999", lw=0.8)
    ax_state.text(1, HEADLINE_THRESHOLD, f" {HEADLINE_THRESHOLD:g} of the state spread", va="bottom", fontsize=8,
                  color="#666666")  # fmt: skip
    for ax, what in ((ax_state, "state"), (ax_reward, "reward of step k")):
        ax.set_yscale("log")
        ax.set_xlabel("open-loop steps k (real actions)")
        ax.set_ylabel(f"normalised RMS error, {what}")
        ax.grid(alpha=0.3, which="both")
    n_seeds = mean.loc[(mean["env"] == env) & (mean["variant"] == variant), "seeds"].max()
    ax_state.set_title(f"{env} ({variant}): state; dotted = ε·k from k=1", fontsize=10)
    ax_reward.set_title(f"{env}: reward; solid = mean, dashed = sampled (seeds: {n_seeds})", fontsize=10)
    handles, labels = ax_state.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), frameon=False, fontsize=8)
    fig.tight_layout(rect=(0, 0.06 * ((len(labels) + 3) // 4) + 0.02, 1, 1))
    return fig


def direct_figure(mean: pd.DataFrame, envs: Sequence[str]) -> Figure:
    """Per env: state error at the direct models' k, iterated one-step (mean, sampled) vs direct k-step."""
    fig = Figure(figsize=(max(3.6 * len(envs), 8.0), 4.0))
    axes = fig.subplots(1, len(envs), squeeze=False)[0]
    for ax, env in zip(axes, envs, strict=True):
        variant = _main_variant(mean, env)
        data = mean[(mean["env"] == env) & (mean["variant"] == variant)] if variant else mean.iloc[:0]
        ks = sorted(data.loc[data["kind"] == "direct", "k"].unique())
        if not ks:
            _no_data(ax, env)
            continue
        late = data[data["env_step"].isin(late_passes(data.loc[data["kind"] == "direct", "env_step"]))]
        late = late[late["k"].isin(ks)].groupby(["kind", "k"], as_index=False)["state_err"].mean()
        for kind in ("mean", "sample", "direct"):
            rows = late[late["kind"] == kind].sort_values("k")
            ax.plot(rows["k"], np.sqrt(rows["state_err"]), "o-", color=KIND_COLORS[kind], label=KIND_LABELS[kind])
        ax.set_yscale("log")
        ax.set_xticks(ks)
        ax.set_title(env)
        ax.set_xlabel("k")
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("normalised RMS state error after k steps")
    handles, labels = next(((h, lab) for ax in axes for h, lab in [ax.get_legend_handles_labels()] if lab), ([], []))
    if labels:
        fig.legend(handles, labels, loc="lower center", ncol=3, frameon=False, fontsize=9)
    fig.suptitle("Iterating the one-step ensemble vs a direct k-step model (second half of the passes)", fontsize=11)
    fig.tight_layout(rect=(0, 0.1, 1, 0.95))
    return fig


def bound_figure(bound: pd.DataFrame, envs: Sequence[str]) -> Figure:
    """Per env over training: the schedule's k and the bound's k* (top); ε_m' and ε_π (bottom)."""
    fig = Figure(figsize=(max(3.8 * len(envs), 8.0), 6.4))
    axes = fig.subplots(2, len(envs), squeeze=False, sharex="col")
    for col, env in enumerate(envs):
        top, bottom = axes[0][col], axes[1][col]
        variant = _main_variant(bound, env)
        if variant is None:
            _no_data(top, env)
            _no_data(bottom, env)
            continue
        data = bound[(bound["env"] == env) & (bound["variant"] == variant)]
        per_step = data.groupby("env_step", as_index=False).agg(
            schedule_k=("schedule_k", "max"),
            bound_k=("bound_k", "median"),
            eps_model=("eps_model", "mean"),
            eps_policy=("eps_policy", "mean"),
        )
        top.scatter(data["env_step"], data["bound_k"], s=10, color="#1f5fa8", alpha=0.35, label="k* (a seed)")
        top.plot(per_step["env_step"], per_step["bound_k"], "-", color="#1f5fa8", lw=2, label="k* (median)")
        top.step(per_step["env_step"], per_step["schedule_k"], where="post", color="black", lw=1.5,
                 label="schedule's k")  # fmt: skip
        top.set_yscale("symlog", linthresh=1)
        top.set_title(env)
        bottom.plot(per_step["env_step"], per_step["eps_model"], "-o", ms=3, color="#c0392b",
                    label="ε_m' proxy: one-step RMS error, new data")  # fmt: skip
        bottom.plot(per_step["env_step"], per_step["eps_policy"], "-o", ms=3, color="#27ae60",
                    label="ε_π proxy: Pinsker TV, consecutive policies")  # fmt: skip
        bottom.set_yscale("log")
        bottom.set_xlabel("env steps")
        for ax in (top, bottom):
            ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel("rollout length")
    axes[1][0].set_ylabel("error proxies")
    seen: dict[str, object] = {}
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(lab, h)
    if seen:
        fig.legend(seen.values(), seen.keys(), loc="lower center", ncol=3, frameon=False, fontsize=8)
    fig.suptitle("The bound-optimal rollout length (Theorem 4.3, arXiv:1906.08253) vs the schedule", fontsize=11)
    fig.tight_layout(rect=(0, 0.08, 1, 0.95))
    return fig


# ---------------------------------------------------------------------------------------------- markdown

CAVEATS = """\
## What the proxies can and cannot tell

- **Held out by construction.** Each pass runs at a model refit, *before* the fit: the ensemble was fitted
  at the previous refit and has never seen the real transitions collected since (by the newer policy).
  Training is untouched: a run's `metrics.csv` is identical with diagnostics on or off.
- **Segments are real open-loop trajectories**: consecutive transitions of one episode (no reset, no
  termination inside). The model gets the *real* actions; a branched rollout uses the policy's actions,
  so this measures the model, not the policy's exploitation of it. Segments overlap (one per start
  state), so `n_segments` counts windows, not independent samples; long k come only from long episodes.
- **Errors are normalised**: the state error is the MSE per dimension divided by the variance of that
  dimension in the env buffer, the reward error likewise by the reward's variance. The RMS shown here is
  its square root: 1 means the prediction is off by the typical spread of the states themselves.
- **mean vs sampled**: *mean* feeds back the average of the elites' mean predictions (bias only);
  *sampled* steps each segment through a random elite with the Gaussian noise, as the training rollouts
  do. When sampled is far above mean, the model's predicted noise, not its bias, dominates the error.
- **ε·k** is the design note's §2.1 law, drawn from the error at k = 1 on the RMS scale, where a constant
  per-step bias adds up linearly. A curve above it means the dynamics amplify errors (p > 1); below, that
  errors partly cancel or are damped (p < 1). It is a yardstick, not a model of the error.
- **The bound's k\\*** uses Theorem 4.3 of Janner et al. 2019 (arXiv:1906.08253, NeurIPS 2019 version):
  η[π] ≥ η^branch[π] − 2 r_max [γ^(k+1) ε_π/(1−γ)² + γ^k ε_π/(1−γ) + k ε_m'/(1−γ)], minimised over k.
  r_max only scales the bound, so k\\* does not depend on it; γ is the run's discount. k\\* depends only on
  the ratio ε_m'/ε_π: it is the smallest k with γ^k ≤ ε_m'/ε_π (0 when ε_m' ≥ ε_π).
  The theorem wants total variations; we have proxies. ε_π: the Pinsker bound sqrt(KL/2) on the TV
  between the policy at this refit and at the previous one (exact KL of the pre-tanh Gaussians, which
  equals the squashed policies' KL since tanh is a bijection), *averaged* over the new real states (the
  theorem's max over all states would be larger and give a larger k\\*). ε_m': the ensemble's one-step
  normalised RMS error on the new policy's data, measured directly instead of extrapolated linearly as
  the paper's §4.2 does. **An RMS error is not a TV distance**: rescaling it by c moves k\\* by
  ln c / ln γ (about −100·ln c steps at γ = 0.99). Read k\\* as a trend over training and relative to the
  schedule, never as a rollout length to use.
- **The direct k-step model** (design note §9.3) is a diagnostic comparator only, never used to train the
  policy: one deterministic MLP per k, the ensemble members' shape, fitted on the same real data as the
  ensemble (its real k-step windows, at most `multistep_windows` per pass), warm-started across passes,
  early-stopped on a 10% holdout.
"""


def _fmt(value: float, digits: int = 3) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:.{digits}g}"


def _horizon_text(k: np.ndarray, rmse: np.ndarray, threshold: float) -> str:
    h, crossed = trust_horizon(k, rmse, threshold)
    return f"{h}" if crossed else f"≥ {h}"


def _stage_table(mean: pd.DataFrame, env: str, variant: str, schedule: dict[int, int]) -> list[str]:
    data = mean[(mean["env"] == env) & (mean["variant"] == variant)]
    thresholds = " | ".join(f"horizon @{t:g}" for t in THRESHOLDS)
    lines = [
        f"| env step | schedule k | ε (k=1) | RMS at k_max | ÷ ε·k_max | growth p | {thresholds} | sampled k=1 |",
        "|---:|---:|---:|---:|---:|---:|" + "---:|" * len(THRESHOLDS) + "---:|",
    ]
    for step in stages(data.loc[data["kind"] == "mean", "env_step"]):
        curve = _curve(mean, env, variant, step, "mean")
        k, rmse = curve["k"].to_numpy(), curve["state_rmse"].to_numpy()
        g = growth(k, rmse)
        sampled = _curve(mean, env, variant, step, "sample")
        horizons = " | ".join(_horizon_text(k, rmse, t) for t in THRESHOLDS)
        lines.append(
            f"| {_steps(step)} | {schedule.get(step, '?')} | {_fmt(g.eps)} | {_fmt(rmse[-1])} (k={g.k_max}) | "
            f"{_fmt(g.ratio)} | {_fmt(g.exponent, 2)} | {horizons} | "
            f"{_fmt(sampled['state_rmse'].iloc[0]) if not sampled.empty else 'n/a'} |"
        )
    return lines


def _direct_table(mean: pd.DataFrame, env: str, variant: str) -> list[str]:
    data = mean[(mean["env"] == env) & (mean["variant"] == variant)]
    direct_steps = data.loc[data["kind"] == "direct", "env_step"]
    if direct_steps.empty:
        return ["No direct k-step model was fitted (no `diagnostics.multistep_horizons`, or too little data)."]
    late = data[data["env_step"].isin(late_passes(direct_steps))]
    ks = sorted(late.loc[late["kind"] == "direct", "k"].unique())
    table = late[late["k"].isin(ks)].groupby(["kind", "k"])[["state_err", "return_err"]].mean()
    lines = [
        "| k | state: iterated mean | iterated sampled | direct | mean reward over k: iterated mean | direct |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for k in ks:

        def cell(kind: str, column: str, k: int = k) -> str:
            return _fmt(math.sqrt(table.loc[(kind, k), column])) if (kind, k) in table.index else "n/a"

        lines.append(
            f"| {k} | {cell('mean', 'state_err')} | {cell('sample', 'state_err')} | {cell('direct', 'state_err')} "
            f"| {cell('mean', 'return_err')} | {cell('direct', 'return_err')} |"
        )
    return lines


def _bound_table(bound: pd.DataFrame, env: str, variant: str) -> list[str]:
    data = bound[(bound["env"] == env) & (bound["variant"] == variant)]
    per_step = data.groupby("env_step").agg(
        schedule_k=("schedule_k", "max"),
        k_star=("bound_k", "median"),
        k_min=("bound_k", "min"),
        k_max=("bound_k", "max"),
        eps_model=("eps_model", "mean"),
        eps_policy=("eps_policy", "mean"),
        kl=("policy_kl", "mean"),
    )
    lines = [
        "| env step | schedule k | k* median [min, max] over seeds | ε_m' proxy | ε_π proxy | ε_m'/ε_π | KL (nats) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for step in stages(per_step.index, n=8):
        r = per_step.loc[step]
        lines.append(
            f"| {_steps(step)} | {int(r.schedule_k)} | {_fmt(r.k_star, 6)} [{_fmt(r.k_min, 6)}, {_fmt(r.k_max, 6)}] | "
            f"{_fmt(r.eps_model)} | {_fmt(r.eps_policy)} | {_fmt(r.eps_model / r.eps_policy)} | {_fmt(r.kl)} |"
        )
    return lines


def reading(mean: pd.DataFrame, bound: pd.DataFrame, env: str, variant: str) -> str:
    """The generated interpretation of one env: trustworthy horizon, growth law, direct model, k*."""
    data = mean[(mean["env"] == env) & (mean["variant"] == variant) & (mean["kind"] == "mean")]
    if data.empty:
        return f"**{env}**: no diagnostics data."
    last = max(data["env_step"])
    curve = _curve(mean, env, variant, last, "mean")
    k, rmse = curve["k"].to_numpy(), curve["state_rmse"].to_numpy()
    g = growth(k, rmse)
    h, crossed = trust_horizon(k, rmse, HEADLINE_THRESHOLD)
    sched = bound[(bound["env"] == env) & (bound["variant"] == variant) & (bound["env_step"] == last)]
    schedule_k = int(sched["schedule_k"].max()) if not sched.empty else None
    parts = [f"**{env}** (last pass, env step {_steps(last)}): "]
    if crossed:
        parts.append(
            f"the mean prediction's state error exceeds {HEADLINE_THRESHOLD:g} of the state spread after "
            f"k = {h + 1} open-loop steps, so the trustworthy horizon is k = {h}"
        )
    else:
        parts.append(
            f"the mean prediction's state error stays below {HEADLINE_THRESHOLD:g} of the state spread up to "
            f"the largest measured k = {h} (RMS {_fmt(rmse[-1])})"
        )
    if schedule_k is not None:
        inside = schedule_k <= h
        parts.append(f"; the schedule's k = {schedule_k} is {'inside' if inside else 'beyond'} it. ")
    else:
        parts.append(". ")
    if np.isfinite(g.exponent):
        law = "faster than" if g.exponent > 1.15 else "slower than" if g.exponent < 0.85 else "close to"
        parts.append(
            f"The error grows {law} the linear ε·k law (ε = {_fmt(g.eps)}, RMS ∝ k^{g.exponent:.2f}; at "
            f"k = {g.k_max} it is {_fmt(g.ratio)}× ε·k). "
        )
    sampled = _curve(mean, env, variant, last, "sample")
    if not sampled.empty and np.isfinite(g.eps):
        factor = float(sampled["state_rmse"].iloc[0]) / g.eps
        parts.append(f"Sampled rollouts are {_fmt(factor)}× the mean's error at k = 1. ")
    direct = mean[(mean["env"] == env) & (mean["variant"] == variant) & (mean["kind"] == "direct")]
    if not direct.empty:
        late = mean[(mean["env"] == env) & (mean["variant"] == variant)]
        late = late[late["env_step"].isin(late_passes(direct["env_step"]))]
        k_top = int(direct["k"].max())
        pair = late[late["k"] == k_top].groupby("kind")["state_err"].mean()
        if {"mean", "direct"} <= set(pair.index):
            ratio = math.sqrt(pair["direct"] / pair["mean"])
            verdict = "beats" if ratio < 0.9 else "loses to" if ratio > 1.1 else "matches"
            parts.append(
                f"At k = {k_top} the direct k-step model {verdict} iterating the one-step ensemble "
                f"(RMS ratio direct/iterated {_fmt(ratio)}, second half of the passes). "
            )
    bd = bound[(bound["env"] == env) & (bound["variant"] == variant)]
    if not bd.empty:
        late_bd = bd[bd["env_step"].isin(late_passes(bd["env_step"]))]
        parts.append(
            f"The bound's k* (median over the second half of the passes) is {late_bd['bound_k'].median():g} "
            f"against a schedule of k = {int(late_bd['schedule_k'].max())} there (proxies: see below)."
        )
    return "".join(parts)


def _cost_lines(diag: Diagnostics) -> list[str]:
    """Per env: seconds per pass and per model fit, and the diagnostics' share of fitting and of wall-clock."""
    if diag.bound.empty:
        return []
    lines = [
        "| env | passes | seconds per pass | of which direct models | seconds per model fit | "
        "diagnostics ÷ model fitting | diagnostics ÷ run wall-clock |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for env, rows in diag.bound.groupby("env"):
        fits = diag.fits[diag.fits["env"] == env]
        total = rows["seconds"].sum()
        per_fit = fits["fit_seconds"].sum() / max(fits["n_fits"].sum(), 1)
        lines.append(
            f"| {env} | {len(rows)} | {_fmt(rows['seconds'].mean())} | {_fmt(rows['seconds_direct'].mean())} | "
            f"{_fmt(per_fit)} | {total / fits['fit_seconds'].sum():.1%} | {total / fits['wall_seconds'].sum():.1%} |"
        )
    return lines


def render(diag: Diagnostics, envs: Sequence[str], name: str) -> str:
    mean = seed_mean(diag.errors)
    lines = [
        f"# Model diagnostics ({name})",
        "",
        "Where does the learned model stop being trustworthy, and does the rollout schedule stay inside that "
        "horizon? Measured during training on real transitions the model had not seen (see the caveats at the "
        "end). Figures: `figures/model_error_<env>.png` (error vs k over training), "
        "`figures/model_error_direct.png` (iterated one-step vs direct k-step), `figures/rollout_bound.png` "
        "(the schedule's k and the bound's k\\*).",
        "",
        "## Reading",
        "",
    ]
    for env in envs:
        variant = _main_variant(mean, env)
        lines += [reading(mean, diag.bound, env, variant) if variant else f"**{env}**: no diagnostics data.", ""]
    for env in envs:
        variants = sorted(mean.loc[mean["env"] == env, "variant"].unique())
        for variant in variants:
            bound = diag.bound[(diag.bound["env"] == env) & (diag.bound["variant"] == variant)]
            schedule = bound.groupby("env_step")["schedule_k"].max().to_dict()
            seeds = diag.errors.loc[(diag.errors["env"] == env) & (diag.errors["variant"] == variant), "seed"].nunique()
            lines += [
                f"## {env} ({variant}, {seeds} seed{'s' if seeds != 1 else ''})",
                "",
                "Compounding error of the mean prediction, normalised RMS (stages spread over training; the "
                "horizon at τ is the largest k whose error stays ≤ τ, '≥' when it never crossed):",
                "",
                *_stage_table(mean, env, variant, schedule),
                "",
                "Iterated one-step ensemble vs direct k-step model, normalised RMS at equal k on the same "
                "held-out segments:",
                "",
                *_direct_table(mean, env, variant),
                "",
                "The bound's k\\* beside the schedule's k (means over seeds):",
                "",
                *_bound_table(diag.bound, env, variant),
                "",
            ]
    cost = _cost_lines(diag)
    if cost:
        lines += [
            "## Cost",
            "",
            "Wall-clock seconds of the diagnostic passes (rollout_bound.csv `seconds`) against the model fits "
            "(metrics.csv `time/model_s`) and the whole runs (`wall_time_s`, which includes the passes), summed "
            "over the runs of each env:",
            "",
            *cost,
            "",
        ]
    if diag.missing:
        lines += [f"Runs without diagnostics files (off, or too short for a pass): {len(diag.missing)}.", ""]
    lines.append(CAVEATS)
    return "\n".join(lines)


def write_report(run_dirs: Sequence[str | Path], out: str | Path, figures_dir: str | Path, envs: Sequence[str],
                 name: str) -> None:  # fmt: skip
    """Write the markdown report to ``out`` and `figure_names` (always all of them) to ``figures_dir``."""
    diag = load(run_dirs)
    out, figures_dir = Path(out), Path(figures_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    figures_dir.mkdir(parents=True, exist_ok=True)
    mean = seed_mean(diag.errors)
    for env in envs:
        error_vs_k_figure(mean, env).savefig(figures_dir / f"model_error_{env}.png", dpi=120)
    direct_figure(mean, envs).savefig(figures_dir / "model_error_direct.png", dpi=120)
    bound_figure(diag.bound, envs).savefig(figures_dir / "rollout_bound.png", dpi=120)
    out.write_text(render(diag, envs, name))
