"""``reports/figures/``: every figure draws rows of ``stats.csv``, so figures and table show the same statistic.

* ``curves_{env}.png``: IQM return over seeds with its bootstrap band, against env steps (public reference
  curves dashed, the sample-efficiency threshold and where each curve reaches it marked) and against wall-clock hours.
* ``overview.png``: the env-step panels of all envs.
* ``final_scores.png``: final-return IQM with CI per env and algorithm, every seed as a dot.
* ``prob_improvement.png``, ``sample_efficiency.png``: MBPO vs SAC per env and across envs, with CIs.
* ``performance_profile.png``: score distributions across envs (SAC-normalised), with bands.
* ``compute.png`` (given ``runs.csv``): wall-clock per run and where it went.

Figures are plain ``matplotlib.figure.Figure`` objects rendered by Agg: no pyplot state, no display needed.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from mbpo.analysis.reference import (
    ALGO_LABELS,
    SOURCES,
    STEP_SOURCES,
    env_id,
    format_steps,
    load_reference,
    mean_curve,
    our_env_id,
)
from mbpo.analysis.runinfo import OTHER, PHASES, UNKNOWN
from mbpo.analysis.stats import NOT_ESTABLISHED

PALETTE = {"mbpo": "#1f5fa8", "sac": "#d9711c"}  # ours: MBPO blue, SAC orange
REFERENCE_STYLE = {  # (colour, dashes, width): a lighter shade of the algorithm they are compared with
    "erl_lib/mbpo_pseudoseeds": ("#6fa8dc", (0, (5, 2)), 1.6),
    "x35f_model_based_rl/mbpo": ("#9fc5e8", (0, (1, 1.5)), 1.0),  # one noisy seed: drawn thin
    "tianshou/sac": ("#f6b26b", (0, (5, 2)), 1.6),
    "erl_lib/sac": ("#e6a15a", (0, (1, 1.5)), 1.6),
}
PHASE_COLORS = {"policy": "#4c72b0", "model": "#55a868", "rollout": "#8172b2", "env": "#ccb974", "eval": "#64b5cd"}
STEPS_AXIS = FuncFormatter(lambda x, _: format_steps(x) if x > 0 else "0")
RATIO_AXIS = FuncFormatter(lambda x, _: f"{x:g}x")
THRESHOLD_COLOR = "#333333"
LEGEND_ROW_IN, LEGEND_PAD_IN = 0.2, 0.15  # a shared legend's row at fontsize 9, and its gap to the axes


def time_unit(seconds: float) -> tuple[float, str]:
    """(divisor, name) to show durations up to ``seconds`` readably: hours, or minutes/seconds for short runs."""
    if seconds >= 3600:
        return 3600.0, "hours"
    return (60.0, "minutes") if seconds >= 120 else (1.0, "seconds")


METHOD, BASELINE = "mbpo", ("sac", "default")


def group_label(algo: str, variant: str) -> str:
    name = ALGO_LABELS.get(algo, algo)
    return name if variant == "default" else f"{name} ({variant})"


def _group_colors(frame: pd.DataFrame) -> dict[str, str]:
    """One colour per (algo, variant) label; variants get further colours of a qualitative map."""
    colors = {}
    extra = iter(sns.color_palette("Dark2", 8).as_hex())
    for algo, variant in frame[["algo", "variant"]].drop_duplicates().itertuples(index=False):
        label = group_label(algo, variant)
        colors[label] = PALETTE.get(algo, "#555555") if variant == "default" else next(extra)
    return colors


def _groups(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """(algo, variant) pairs: MBPO first, defaults before variants."""
    pairs = list(dict.fromkeys(zip(frame["algo"], frame["variant"], strict=True)))
    return sorted(pairs, key=lambda g: (g[0] != METHOD, g[1] != "default", g))


def _rows(stats: pd.DataFrame, metric: str, env: str | None = None, comparison: bool | None = None) -> pd.DataFrame:
    sel = stats[stats["metric"] == metric]
    if env is not None:
        sel = sel[sel["env"] == env]
    if comparison is not None:
        sel = sel[(sel["comparison"].fillna("") != "") == comparison]
    return sel


def _warmup_end(runs: pd.DataFrame | None, curves: pd.DataFrame, env: str) -> float | None:
    """Last env step of the random warm-up in ``env``: from the runs' configs, else from marked evaluations."""
    if runs is not None and "init_exploration_steps" in runs:
        steps = runs.loc[runs["env"] == env, "init_exploration_steps"].dropna()
        if not steps.empty:
            return float(steps.max())
    if "warmup" in curves:
        marked = curves.loc[(curves["env"] == env) & (curves["warmup"] == 1), "env_step"]
        if not marked.empty:
            return float(marked.max())
    return None


def _draw_references(ax: Axes, env: str, reference: pd.DataFrame, x_max: float, full_env_ids: bool) -> None:
    """Public reference curves, dashed and labelled with source and env version, cut at our last step."""
    for source in STEP_SOURCES:
        rows = reference[(reference["source"] == source) & (reference["env"] == env)]
        if rows.empty:
            continue
        curve = mean_curve(reference, source, env)
        if curve.empty or curve["env_step"].iloc[0] >= x_max:
            continue  # starts after our last step: nothing to see
        steps, values = curve["env_step"].to_numpy(dtype=float), curve["return"].to_numpy(dtype=float)
        if steps[-1] > x_max:
            keep = steps < x_max
            steps, values = np.append(steps[keep], x_max), np.append(values[keep], np.interp(x_max, steps, values))
        version = rows["env_version"].iloc[0]
        tag = env_id(env, version) if full_env_ids else version.split("_")[0]
        color, dashes, width = REFERENCE_STYLE[source]
        label = f"{SOURCES[source].label} ({tag}), mean"
        ax.plot(steps, values, color=color, linestyle=dashes, linewidth=width, label=label, zorder=2)


def plot_env(
    ax: Axes,
    stats: pd.DataFrame,
    curves: pd.DataFrame,
    runs: pd.DataFrame | None,
    env: str,
    reference: pd.DataFrame,
    colors: dict[str, str],
    x: str = "env_step",
    full_env_ids: bool = True,
) -> None:
    """Our IQM curves for ``env`` with their bands, from ``stats.csv``'s ``iqm_curve`` rows.

    ``x = "env_step"`` adds the warm-up span, the reference curves, the lower final IQM (the sample-efficiency
    threshold) and where each IQM curve first reaches it; ``x = "hours"`` puts each evaluation at the mean
    wall-clock of the seeds (``wall_clock_hours`` rows), in hours, or minutes or seconds for short runs.
    """
    curve_rows = _rows(stats, "iqm_curve", env)
    hours_rows = _rows(stats, "wall_clock_hours", env)
    divisor, unit = time_unit(3600.0 * float(hours_rows["estimate"].max()) if not hours_rows.empty else 0.0)
    x_max, seeds = 0.0, []
    for algo, variant in _groups(curve_rows):
        label = group_label(algo, variant)
        c = curve_rows[(curve_rows["algo"] == algo) & (curve_rows["variant"] == variant)].sort_values("at")
        if x == "hours":
            h = hours_rows[(hours_rows["algo"] == algo) & (hours_rows["variant"] == variant)].set_index("at")
            if h.empty:
                continue
            c = c[c["at"].isin(h.index)]
            xs = h.loc[c["at"], "estimate"].to_numpy() * 3600.0 / divisor
        else:
            xs = c["at"].to_numpy()
        ax.fill_between(xs, c["ci_low"], c["ci_high"], color=colors[label], alpha=0.22, lw=0)
        ax.plot(xs, c["estimate"], color=colors[label], linewidth=2.2, label=label, zorder=3, marker=".", ms=4)
        x_max = max(x_max, float(np.max(xs)))
        seeds.append(int(c["n"].max()))
    if x == "env_step":
        warm = _warmup_end(runs, curves, env)
        if warm:
            ax.axvspan(0, warm, color="#999999", alpha=0.12, lw=0, label="random warm-up")
        x_max = max(x_max, float(curves.loc[curves["env"] == env, "env_step"].max()))
        _draw_references(ax, env, reference, x_max, full_env_ids)
        _mark_threshold(ax, stats, curve_rows, env, colors)
        ax.set_xlabel("env steps")
        ax.xaxis.set_major_formatter(STEPS_AXIS)
    else:
        ax.set_xlabel(f"training wall-clock ({unit}, mean over seeds)")
        if not seeds:
            ax.text(0.5, 0.5, "no wall-clock logged", transform=ax.transAxes, ha="center", va="center")
    seeds_text = "" if not seeds else f"{min(seeds)}" if min(seeds) == max(seeds) else f"{min(seeds)}-{max(seeds)}"
    ax.set_title(f"{our_env_id(env)}" + (f" ({seeds_text} seeds)" if seeds_text else ""))
    ax.set_xlim(0, x_max or 1)
    ax.set_ylabel("evaluation return (IQM)")
    ax.grid(alpha=0.3)


def _mark_threshold(ax: Axes, stats: pd.DataFrame, curve_rows: pd.DataFrame, env: str, colors: dict[str, str]) -> None:
    """The sample-efficiency threshold (the lower of MBPO's and SAC's final IQMs) as a dotted line, and the
    first step each default IQM curve reaches it."""
    finals = _rows(stats, "iqm_return", env, comparison=False)
    finals = finals[finals["algo"].isin([METHOD, BASELINE[0]]) & (finals["variant"] == "default")]
    if set(finals["algo"]) != {METHOD, BASELINE[0]}:
        return
    tau = float(finals["estimate"].min())
    label = "lower final IQM (sample-efficiency threshold)"
    ax.axhline(tau, color=THRESHOLD_COLOR, linestyle=(0, (1, 2)), linewidth=1.2, label=label, zorder=2.5)
    for algo in (METHOD, BASELINE[0]):
        c = curve_rows[(curve_rows["algo"] == algo) & (curve_rows["variant"] == "default")].sort_values("at")
        if c.empty:
            continue
        v, s = c["estimate"].to_numpy(), c["at"].to_numpy()
        hit = np.flatnonzero(v >= tau)
        if hit.size:
            i = int(hit[0])
            step = s[0] if i == 0 else s[i - 1] + (tau - v[i - 1]) * (s[i] - s[i - 1]) / (v[i] - v[i - 1])
            ax.plot([step], [tau], marker="v", markersize=9, color=colors[group_label(algo, "default")], zorder=4)


def _legend_below(fig: Figure, axes: Sequence[Axes], ncol: int) -> float:
    """One legend for all panels, below them, with every label any panel drew.

    Returns the figure fraction to keep free for it at the bottom (for `tight_layout(rect=...)`), sized in
    inches, not as a fraction of the figure: a short figure with a long legend must not overlap the axes.
    """
    seen: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    ncol = min(ncol, len(seen)) or 1
    fig.legend(seen.values(), seen.keys(), loc="lower center", ncol=ncol, frameon=False, fontsize=9)
    rows = -(-len(seen) // ncol)
    return (LEGEND_ROW_IN * rows + LEGEND_PAD_IN) / fig.get_figheight()


def curves_figure(
    stats: pd.DataFrame, curves: pd.DataFrame, runs: pd.DataFrame | None, env: str, reference: pd.DataFrame,
    confidence: float,
) -> Figure:  # fmt: skip
    fig = Figure(figsize=(11.5, 5.2))
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.35, 1]})
    colors = _group_colors(_rows(stats, "iqm_curve", env))
    plot_env(left, stats, curves, runs, env, reference, colors, "env_step")
    plot_env(right, stats, curves, runs, env, reference, colors, "hours")
    right.set_title("against training wall-clock")
    fig.suptitle(
        f"{left.get_title()}: IQM over seeds with {confidence:.0%} bootstrap band; ▼ where it first reaches "
        "the lower final IQM; dashed: public curves (means)",
        fontsize=11,
    )
    left.set_title("against env steps")
    bottom = _legend_below(fig, [left, right], ncol=3)
    fig.tight_layout(rect=(0, bottom, 1, 0.96))
    return fig


def overview_figure(
    stats: pd.DataFrame, curves: pd.DataFrame, runs: pd.DataFrame | None, envs: Sequence[str],
    reference: pd.DataFrame, confidence: float,
) -> Figure:  # fmt: skip
    ncols = min(2, len(envs))
    nrows = -(-len(envs) // ncols)
    # At least 10 in wide: the shared legend (3 columns) and the title clip in one 6 in panel.
    fig = Figure(figsize=(max(6.0 * ncols, 10.0), 4.4 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    colors = _group_colors(_rows(stats, "iqm_curve"))
    for ax, env in zip(axes.flat, envs, strict=False):
        plot_env(ax, stats, curves, runs, env, reference, colors, "env_step", full_env_ids=False)
    for ax in axes.flat[len(envs) :]:
        ax.set_visible(False)
    bottom = _legend_below(fig, list(axes.flat[: len(envs)]), ncol=3)
    fig.suptitle(f"MBPO vs SAC: IQM evaluation return over seeds, {confidence:.0%} bootstrap band", fontsize=13)
    fig.tight_layout(rect=(0, bottom, 1, 0.98))
    return fig


def final_scores_figure(stats: pd.DataFrame, summary: pd.DataFrame, envs: Sequence[str], confidence: float) -> Figure:
    """Per env: IQM of the final return with its CI per algorithm, and every seed as a dot."""
    iqm = _rows(stats, "iqm_return", comparison=False)
    groups = _groups(iqm)
    labels = [group_label(*g) for g in groups]
    colors = _group_colors(iqm)
    fig = Figure(figsize=(max(3.4 * len(envs), 8.0), 0.7 * len(groups) + 1.8))  # the title's width at least
    axes = fig.subplots(1, len(envs), squeeze=False)
    for ax, env in zip(axes[0], envs, strict=True):
        for y, (algo, variant) in enumerate(groups):
            label = group_label(algo, variant)
            row = iqm[(iqm["env"] == env) & (iqm["algo"] == algo) & (iqm["variant"] == variant)]
            runs = summary[(summary["env"] == env) & (summary["algo"] == algo) & (summary["variant"] == variant)]
            jitter = np.linspace(-0.12, 0.12, len(runs)) if len(runs) > 1 else np.zeros(len(runs))
            ax.scatter(runs["final_return"], y + 0.22 + jitter, s=12, color=colors[label], alpha=0.5, zorder=2)
            if row.empty:
                continue
            r = row.iloc[0]
            ax.plot([r["ci_low"], r["ci_high"]], [y, y], color=colors[label], linewidth=6, alpha=0.45, zorder=1)
            ax.plot(r["estimate"], y, marker="|", markersize=16, markeredgewidth=2.5, color=colors[label])
        ax.set_yticks(range(len(groups)), labels if ax is axes[0][0] else [""] * len(groups))
        ax.set_ylim(len(groups) - 0.4, -0.6)
        budgets = [summary.loc[(summary["env"] == env) & (summary["algo"] == a) & (summary["variant"] == v), "steps"]
                   for a, v in groups]  # fmt: skip
        steps = dict.fromkeys(int(b.max()) for b in budgets if len(b))  # "10k / 30k" where budgets differ
        ax.set_title(f"{our_env_id(env)} @{' / '.join(format_steps(s) for s in steps)}")
        ax.set_xlabel("final return")
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(f"Final return: IQM (bar) with {confidence:.0%} bootstrap CI (band); dots are seeds", fontsize=12)
    fig.tight_layout()
    return fig


def _interval_panel(
    ax: Axes, rows: list[tuple[str, pd.Series | None]], null: float, log: bool = False, color: str = PALETTE["mbpo"]
) -> None:
    """Horizontal estimate + CI per labelled row (top to bottom), a line at the null value."""
    for y, (_, r) in enumerate(rows):
        if r is None or not np.isfinite(r["estimate"]):
            ax.text(null, y, "n/a", ha="center", va="center", fontsize=9, color="#777777")
            continue
        if np.isfinite(r["ci_low"]) and np.isfinite(r["ci_high"]):
            ax.plot([r["ci_low"], r["ci_high"]], [y, y], color=color, linewidth=7, alpha=0.35, solid_capstyle="butt")
        weak = str(r.get("note", "")).startswith(NOT_ESTABLISHED)
        ax.plot(r["estimate"], y, marker="o", markersize=8, color=color, mfc="white" if weak else color, mew=2)
    ax.axvline(null, color="#444444", linestyle="--", linewidth=1)
    ax.set_yticks(range(len(rows)), [label for label, _ in rows])
    ax.set_ylim(len(rows) - 0.5, -0.5)
    if log:
        ax.set_xscale("log")
    ax.grid(axis="x", alpha=0.3)


def _comparison_rows(stats: pd.DataFrame, metric: str, envs: Sequence[str], with_all: bool) -> list:
    rows = []
    for env in [*envs, *(["all"] if with_all else [])]:
        sel = _rows(stats, metric, env, comparison=True)
        sel = sel[(sel["algo"] == METHOD) & (sel["variant"] == "default")]
        rows.append(("All envs" if env == "all" else our_env_id(env), None if sel.empty else sel.iloc[0]))
    return rows


def prob_improvement_figure(stats: pd.DataFrame, envs: Sequence[str], confidence: float) -> Figure:
    rows = _comparison_rows(stats, "prob_improvement", envs, with_all=True)
    fig = Figure(figsize=(7.5, 0.55 * len(rows) + 1.6))
    ax = fig.subplots()
    _interval_panel(ax, rows, null=0.5)
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel("P(MBPO run > SAC run)")
    ax.set_title(f"Probability of improvement, {confidence:.0%} bootstrap CI (All envs: mean over envs)", fontsize=11)
    fig.tight_layout()
    return fig


def sample_efficiency_figure(stats: pd.DataFrame, envs: Sequence[str], confidence: float) -> Figure:
    rows = _comparison_rows(stats, "sample_efficiency", envs, with_all=False)
    fig = Figure(figsize=(7.5, 0.55 * len(rows) + 2.0))
    ax = fig.subplots()
    _interval_panel(ax, rows, null=1.0, log=True)
    ax.xaxis.set_major_formatter(RATIO_AXIS)
    ax.xaxis.set_minor_formatter(RATIO_AXIS)
    ax.tick_params(axis="x", which="minor", labelsize=8)
    ax.set_xlabel("env steps SAC needs / env steps MBPO needs\nto reach the lower of their final IQMs (log scale)")
    ax.set_title(f"Sample efficiency, {confidence:.0%} bootstrap CI\nopen marker: {NOT_ESTABLISHED}", fontsize=10)
    fig.tight_layout()
    return fig


def performance_profile_figure(stats: pd.DataFrame, confidence: float) -> Figure:
    profile = _rows(stats, "performance_profile", "all")
    fig = Figure(figsize=(7.5, 5.0))
    ax = fig.subplots()
    colors = _group_colors(profile) if not profile.empty else {}
    for algo, variant in _groups(profile):
        label = group_label(algo, variant)
        p = profile[(profile["algo"] == algo) & (profile["variant"] == variant)].sort_values("at")
        ax.fill_between(p["at"], p["ci_low"], p["ci_high"], color=colors[label], alpha=0.2, lw=0, step=None)
        ax.plot(p["at"], p["estimate"], color=colors[label], linewidth=2.2, label=label)
    ax.axvline(1.0, color="#444444", linestyle="--", linewidth=1)
    ax.set_xlabel("final return / SAC's final IQM in the same env (τ)")
    ax.set_ylabel("fraction of runs with score > τ")
    ax.set_ylim(-0.02, 1.02)
    note = profile["note"].iloc[0] if not profile.empty else "no env with a positive SAC IQM"
    ax.set_title(f"Performance profiles (score distributions), {confidence:.0%} bootstrap bands", fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    fig.text(0.5, 0.01, textwrap.fill(note[0].upper() + note[1:] + ".", 110), ha="center", va="bottom", fontsize=8)
    fig.tight_layout(rect=(0, 0.09, 1, 1))
    return fig


def compute_figure(runs: pd.DataFrame, envs: Sequence[str]) -> Figure:
    """Mean wall-clock per run per env and algorithm, stacked by timed phase."""
    phases = [*PHASES, *(c[5:-2] for c in runs.columns if c.startswith("time_") and c[5:-2] not in {*PHASES, OTHER})]
    bars = []
    for env in envs:
        for (algo, variant), g in runs[runs["env"] == env].groupby(["algo", "variant"], sort=False):
            seconds = {p: float(np.nanmean(g[f"time_{p}_s"].to_numpy(dtype=float))) for p in [*phases, OTHER]}
            bars.append((f"{our_env_id(env)}  {group_label(algo, variant)}", seconds))
    divisor, unit = time_unit(float(np.nanmax(runs["wall_time_s"].to_numpy(dtype=float), initial=0.0)))
    height = 0.45 * len(bars) + 2.6
    fig = Figure(figsize=(9, height))
    ax = fig.subplots()
    for y, (_, seconds) in enumerate(bars):
        left = 0.0
        for p in [*phases, OTHER]:
            width = seconds[p] / divisor if np.isfinite(seconds[p]) else 0.0
            color = PHASE_COLORS.get(p, "#bbbbbb" if p == OTHER else "#937860")
            name = PHASES.get(p, "other (not timed)" if p == OTHER else p)
            ax.barh(y, width, left=left, color=color, label=name if y == 0 else None, height=0.7)
            left += width
    ax.set_yticks(range(len(bars)), [label for label, _ in bars], fontsize=9)
    ax.set_ylim(len(bars) - 0.5, -0.5)
    ax.set_xlabel(f"training wall-clock per run ({unit}, mean over seeds)")
    machines = [m for m in dict.fromkeys(runs["machine"]) if m]
    where = machines[0] if len(machines) == 1 else f"{len(machines)} machines (see the table)"
    where = "machine unknown (no provenance.yaml)" if where == UNKNOWN else f"on {where}"
    ax.set_title(f"Where a run's time goes (the time/* columns of metrics.csv)\n{where}", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout(rect=(0, _legend_below(fig, [ax], ncol=3), 1, 1))
    return fig


def figure_names(envs: Sequence[str], with_compute: bool = True) -> list[str]:
    """The files ``write_figures`` writes, in order."""
    names = [f"curves_{env}.png" for env in envs]
    names += ["overview.png", "final_scores.png", "prob_improvement.png", "sample_efficiency.png"]
    names += ["performance_profile.png", *(["compute.png"] if with_compute else [])]
    return names


def write_figures(
    curves: pd.DataFrame,
    summary: pd.DataFrame,
    stats: pd.DataFrame,
    runs: pd.DataFrame | None,
    out_dir: str | Path,
    envs: Sequence[str],
    confidence: float = 0.95,
) -> list[Path]:
    """Write every figure of ``figure_names`` (``compute.png`` only with ``runs``); return their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    missing = sorted(set(envs) - set(curves["env"]))
    if missing:
        raise ValueError(f"no curves for env(s) {', '.join(missing)} in the aggregated runs")
    reference = load_reference()
    with sns.axes_style("ticks"), sns.plotting_context("notebook"):
        figures = {f"curves_{env}.png": curves_figure(stats, curves, runs, env, reference, confidence) for env in envs}
        figures["overview.png"] = overview_figure(stats, curves, runs, envs, reference, confidence)
        figures["final_scores.png"] = final_scores_figure(stats, summary, envs, confidence)
        figures["prob_improvement.png"] = prob_improvement_figure(stats, envs, confidence)
        figures["sample_efficiency.png"] = sample_efficiency_figure(stats, envs, confidence)
        figures["performance_profile.png"] = performance_profile_figure(stats, confidence)
        if runs is not None:
            figures["compute.png"] = compute_figure(runs, envs)
    paths = []
    for name, fig in figures.items():
        path = out_dir / name
        # No timestamp in the PNG, so identical inputs give identical files.
        fig.savefig(path, dpi=100, metadata={"Software": None})
        paths.append(path)
    return paths
