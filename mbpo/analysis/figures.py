"""``reports/figures/``: learning curves per env, an overview of all envs, and the final-score intervals.

Ours: mean over seeds with a percentile-bootstrap confidence band, env steps on x. Public reference curves
are drawn dashed, each labelled with its source and env version, cut at the end of our x-axis.
Figures are plain ``matplotlib.figure.Figure`` objects rendered by Agg: no pyplot state, no display needed.
"""

from __future__ import annotations

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

PALETTE = {"mbpo": "#1f5fa8", "sac": "#d9711c"}  # ours: MBPO blue, SAC orange
REFERENCE_STYLE = {  # (colour, dashes, width): a lighter shade of the algorithm they are compared with
    "erl_lib/mbpo_pseudoseeds": ("#6fa8dc", (0, (5, 2)), 1.6),
    "x35f_model_based_rl/mbpo": ("#9fc5e8", (0, (1, 1.5)), 1.0),  # one noisy seed: drawn thin
    "tianshou/sac": ("#f6b26b", (0, (5, 2)), 1.6),
    "erl_lib/sac": ("#e6a15a", (0, (1, 1.5)), 1.6),
}
STEPS_AXIS = FuncFormatter(lambda x, _: format_steps(x) if x > 0 else "0")


def group_label(algo: str, variant: str) -> str:
    name = ALGO_LABELS.get(algo, algo)
    return name if variant == "default" else f"{name} ({variant})"


def _group_colors(curves: pd.DataFrame) -> dict[str, str]:
    """One colour per (algo, variant) label; variants of MBPO get further colours of a qualitative map."""
    colors = {}
    extra = iter(sns.color_palette("Dark2", 8).as_hex())
    for algo, variant in curves[["algo", "variant"]].drop_duplicates().itertuples(index=False):
        label = group_label(algo, variant)
        colors[label] = PALETTE.get(algo, "#555555") if variant == "default" else next(extra)
    return colors


def mean_and_band(group: pd.DataFrame, confidence: float, rng: np.random.Generator, n_boot: int = 1000) -> pd.DataFrame:
    """Mean over seeds per env step and a percentile-bootstrap CI of that mean (seeds resampled).

    ``group``: tidy rows ``seed, env_step, return`` of one (env, algo, variant); only steps every seed
    evaluated are kept. Returns ``env_step, mean, low, high``.
    """
    wide = group.pivot_table(index="env_step", columns="seed", values="return").dropna()  # (steps, seeds)
    values = wide.to_numpy()
    idx = rng.integers(0, values.shape[1], size=(n_boot, values.shape[1]))  # (n_boot, seeds)
    boot = values[:, idx].mean(axis=-1)  # (steps, n_boot)
    alpha = 1.0 - confidence
    low, high = np.quantile(boot, [alpha / 2, 1 - alpha / 2], axis=1)
    return pd.DataFrame({"env_step": wide.index, "mean": values.mean(axis=1), "low": low, "high": high})


def plot_env(
    ax: Axes,
    curves: pd.DataFrame,
    env: str,
    reference: pd.DataFrame,
    colors: dict[str, str],
    confidence: float,
    seed: int,
    full_env_ids: bool = True,
) -> None:
    """Our curves for ``env`` (mean and CI band over seeds) and the reference curves, dashed.

    ``full_env_ids``: label references with their env id (``AntTruncatedObs-v2``) rather than the version.
    """
    ours = curves[curves["env"] == env]
    x_max = float(ours["env_step"].max())
    rng = np.random.default_rng(seed)
    n_seeds = []
    for (algo, variant), group in ours.groupby(["algo", "variant"], sort=False):
        label = group_label(algo, variant)
        band = mean_and_band(group, confidence, rng)
        ax.fill_between(band["env_step"], band["low"], band["high"], color=colors[label], alpha=0.22, lw=0)
        ax.plot(band["env_step"], band["mean"], color=colors[label], linewidth=2.2, label=label, zorder=3)
        n_seeds.append(group["seed"].nunique())
    for source in STEP_SOURCES:
        rows = reference[(reference["source"] == source) & (reference["env"] == env)]
        if rows.empty:
            continue
        curve = mean_curve(reference, source, env)
        if curve.empty or curve["env_step"].iloc[0] >= x_max:
            continue  # starts after our last step: nothing to see
        # Cut at our last step (interpolated there), so the axes show our range only.
        steps, values = curve["env_step"].to_numpy(dtype=float), curve["return"].to_numpy(dtype=float)
        if steps[-1] > x_max:
            keep = steps < x_max
            steps, values = np.append(steps[keep], x_max), np.append(values[keep], np.interp(x_max, steps, values))
        version = rows["env_version"].iloc[0]
        tag = env_id(env, version) if full_env_ids else version.split("_")[0]
        color, dashes, width = REFERENCE_STYLE[source]
        ax.plot(
            steps,
            values,
            color=color,
            linestyle=dashes,
            linewidth=width,
            label=f"{SOURCES[source].label} ({tag})",
            zorder=2,
        )
    seeds = f"{min(n_seeds)}" if min(n_seeds) == max(n_seeds) else f"{min(n_seeds)}-{max(n_seeds)}"
    ax.set_title(f"{our_env_id(env)} ({seeds} seeds)")
    ax.set_xlim(0, x_max)
    ax.set_xlabel("env steps")
    ax.set_ylabel("evaluation return")
    ax.xaxis.set_major_formatter(STEPS_AXIS)
    ax.grid(alpha=0.3)


def _legend_below(fig: Figure, axes: Sequence[Axes], ncol: int) -> None:
    """One legend for all panels, below them, with every label that any panel drew."""
    seen: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    fig.legend(seen.values(), seen.keys(), loc="lower center", ncol=min(ncol, len(seen)), frameon=False)


def curves_figure(curves: pd.DataFrame, env: str, reference: pd.DataFrame, confidence: float, seed: int) -> Figure:
    fig = Figure(figsize=(7.5, 5.5))
    ax = fig.subplots()
    plot_env(ax, curves, env, reference, _group_colors(curves), confidence, seed)
    ax.set_title(f"{ax.get_title()}: mean, {confidence:.0%} CI over seeds; dashed: public curves", fontsize=11)
    n_labels = len(ax.get_legend_handles_labels()[1])
    _legend_below(fig, [ax], ncol=2)
    fig.tight_layout(rect=(0, 0.045 * ((n_labels + 1) // 2) + 0.02, 1, 1))
    return fig


def overview_figure(
    curves: pd.DataFrame, envs: Sequence[str], reference: pd.DataFrame, confidence: float, seed: int
) -> Figure:
    ncols = min(2, len(envs))
    nrows = -(-len(envs) // ncols)
    fig = Figure(figsize=(6.0 * ncols, 4.4 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    colors = _group_colors(curves)
    for ax, env in zip(axes.flat, envs, strict=False):
        plot_env(ax, curves, env, reference, colors, confidence, seed, full_env_ids=False)
    for ax in axes.flat[len(envs) :]:
        ax.set_visible(False)
    used = list(axes.flat[: len(envs)])
    n_labels = len({label for ax in used for label in ax.get_legend_handles_labels()[1]})
    _legend_below(fig, used, ncol=3)
    fig.suptitle(f"MBPO vs SAC: mean evaluation return and {confidence:.0%} CI over seeds", fontsize=13)
    fig.tight_layout(rect=(0, 0.03 * ((n_labels + 2) // 3) + 0.02, 1, 0.98))
    return fig


def final_scores_figure(stats: pd.DataFrame, summary: pd.DataFrame, envs: Sequence[str], confidence: float) -> Figure:
    """Per env: IQM of the final return with its CI per algorithm, and every seed as a dot."""
    iqm = stats[(stats["metric"] == "iqm_return") & (stats["comparison"].fillna("") == "")]
    groups = list(dict.fromkeys(zip(iqm["algo"], iqm["variant"], strict=True)))
    groups.sort(key=lambda g: (g[0] != "mbpo", g[1] != "default", g))
    labels = [group_label(*g) for g in groups]
    colors = _group_colors(iqm)
    fig = Figure(figsize=(3.4 * len(envs), 0.7 * len(groups) + 1.8))
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
        steps = summary.loc[summary["env"] == env, "steps"].max()
        ax.set_title(f"{our_env_id(env)} @{format_steps(steps)}")
        ax.set_xlabel("final return")
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(f"Final return: IQM (bar) with {confidence:.0%} bootstrap CI (band); dots are seeds", fontsize=12)
    fig.tight_layout()
    return fig


def write_figures(
    curves: pd.DataFrame,
    summary: pd.DataFrame,
    stats: pd.DataFrame,
    out_dir: str | Path,
    envs: Sequence[str],
    confidence: float = 0.95,
    seed: int = 0,
) -> list[Path]:
    """Write ``curves_{env}.png`` per env, ``overview.png`` and ``final_scores.png``; return their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    missing = sorted(set(envs) - set(curves["env"]))
    if missing:
        raise ValueError(f"no curves for env(s) {', '.join(missing)} in the aggregated runs")
    reference = load_reference()
    with sns.axes_style("ticks"), sns.plotting_context("notebook"):
        figures = {f"curves_{env}.png": curves_figure(curves, env, reference, confidence, seed) for env in envs}
        figures["overview.png"] = overview_figure(curves, envs, reference, confidence, seed)
        figures["final_scores.png"] = final_scores_figure(stats, summary, envs, confidence)
    paths = []
    for name, fig in figures.items():
        path = out_dir / name
        # No timestamp in the PNG, so identical inputs give identical files.
        fig.savefig(path, dpi=120, metadata={"Software": None})
        paths.append(path)
    return paths
