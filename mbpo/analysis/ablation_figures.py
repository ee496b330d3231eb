"""The ablation report's figures, each drawn from rows of ``results/ablations/stats.csv``.

* ``ablations_curves.png``: one panel per env, the IQM learning curve over seeds (with its bootstrap band)
  of ``default`` and of every ablation that ran there.
* ``ablations_effects.png``: one panel per env and measure (final return; mean return over the run), each
  ablation's IQM difference from ``default`` with its CI; a filled marker where P(improvement) differs
  from 0.5 at the Holm-adjusted 5% level.

Plain ``matplotlib.figure.Figure`` objects rendered by Agg, as in `mbpo.analysis.figures`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from mbpo.analysis.ablations import ALPHA, BASELINE, MEASURES, EnvAblations, Measure
from mbpo.analysis.figures import PALETTE, STEPS_AXIS
from mbpo.analysis.reference import our_env_id

FIGURES = {
    "ablations_curves.png": "IQM evaluation return over seeds of `default` and each ablation, with bootstrap bands",
    "ablations_effects.png": "Each ablation's IQM difference from `default` in final return and in mean return over "
    "the run, with bootstrap CIs",
}


def variant_colors(variants: Sequence[str]) -> dict[str, str]:
    """``default`` in MBPO's blue; the ablations in a qualitative palette, the same colour in every panel."""
    others = [v for v in dict.fromkeys(variants) if v != BASELINE]
    palette = sns.color_palette("Dark2", max(8, len(others))).as_hex()
    return {BASELINE: PALETTE["mbpo"], **dict(zip(others, palette, strict=False))}


def curves_figure(stats: pd.DataFrame, envs: Sequence[EnvAblations], confidence: float) -> Figure:
    ncols = min(2, len(envs))
    nrows = -(-len(envs) // ncols)
    fig = Figure(figsize=(6.4 * ncols, 4.6 * nrows + 1.0))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    colors = variant_colors([v for e in envs for v in [BASELINE, *e.variants]])
    curve_rows = stats[stats["metric"] == "iqm_curve"]
    for ax, e in zip(axes.flat, envs, strict=False):
        for variant in [BASELINE, *e.variants]:
            c = curve_rows[(curve_rows["env"] == e.env) & (curve_rows["variant"] == variant)].sort_values("at")
            if c.empty:
                continue
            same = variant in e.identical
            label = f"{variant} (= default here)" if same else variant
            width = 2.6 if variant == BASELINE else 1.6
            style = (0, (4, 2)) if same else "-"
            ax.fill_between(c["at"], c["ci_low"], c["ci_high"], color=colors[variant], alpha=0.12, lw=0)
            ax.plot(c["at"], c["estimate"], color=colors[variant], lw=width, ls=style, label=label, zorder=3)
        n = curve_rows.loc[curve_rows["env"] == e.env, "n"]
        seeds = f"{n.min()}" if n.min() == n.max() else f"{n.min()}-{n.max()}"
        ax.set_title(f"{our_env_id(e.env)} ({seeds} seed{'' if seeds == '1' else 's'})")
        ax.set_xlabel("env steps")
        ax.set_ylabel("evaluation return (IQM)")
        ax.xaxis.set_major_formatter(STEPS_AXIS)
        ax.grid(alpha=0.3)
        ax.legend(frameon=False, fontsize=8, loc="lower right")  # learning curves leave it empty
    for ax in axes.flat[len(envs) :]:
        ax.set_visible(False)
    fig.suptitle(f"MBPO ablations: IQM over seeds, {confidence:.0%} bootstrap bands", fontsize=13)
    fig.tight_layout()
    return fig


def effects_figure(stats: pd.DataFrame, envs: Sequence[EnvAblations], confidence: float) -> Figure:
    """A row of panels per measure (final return, mean return over the run), a column per env."""
    rows = max(1, max(len(e.variants) for e in envs))
    fig = Figure(figsize=(max(8.0, 5.2 * len(envs)), len(MEASURES) * (0.5 * rows + 1.6) + 1.0))
    axes = fig.subplots(len(MEASURES), len(envs), squeeze=False)
    colors = variant_colors([v for e in envs for v in [BASELINE, *e.variants]])
    for measure, panels in zip(MEASURES, axes, strict=True):
        for ax, e in zip(panels, envs, strict=True):
            _effects_panel(ax, stats, e, measure, colors)
            ax.set_title(f"{our_env_id(e.env)}: {measure.label}", fontsize=10)
    fig.suptitle(
        f"Ablation effects with {confidence:.0%} bootstrap CIs; P = P(variant run > default run)\n"
        f"filled: P ≠ 0.5 at Holm-adjusted p < {ALPHA:g} (Mann-Whitney); no bar: fewer than 2 seeds",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def _effects_panel(ax, stats: pd.DataFrame, e: EnvAblations, measure: Measure, colors: dict[str, str]) -> None:
    for y, variant in enumerate(e.variants):
        sel = stats[(stats["env"] == e.env) & (stats["variant"] == variant)]
        difference = sel[sel["metric"] == measure.difference]
        improvement = sel[sel["metric"] == measure.improvement]
        if variant in e.identical or difference.empty:
            ax.text(0, y, "= default", ha="center", va="center", fontsize=9, color="#777777")
            continue
        d = difference.iloc[0]
        if np.isfinite(d["ci_low"]) and np.isfinite(d["ci_high"]):
            ax.plot([d["ci_low"], d["ci_high"]], [y, y], color=colors[variant], lw=7, alpha=0.4)
        p = improvement["p_value_holm"].iloc[0] if not improvement.empty else np.nan
        established = bool(np.isfinite(p) and p < ALPHA)
        fill = colors[variant] if established else "white"
        ax.plot(d["estimate"], y, "o", ms=8, mew=2, color=colors[variant], mfc=fill)
        if not improvement.empty:
            ax.annotate(
                f"P={improvement['estimate'].iloc[0]:.2f}",
                (d["estimate"], y),
                xytext=(0, 7),
                textcoords="offset points",
                ha="center",
                fontsize=8,
            )
    ax.axvline(0.0, color="#444444", ls="--", lw=1)
    ax.set_yticks(range(len(e.variants)), e.variants)
    ax.set_ylim(len(e.variants) - 0.5, -0.7)
    ax.set_xlabel("IQM(variant) − IQM(default)")
    ax.grid(axis="x", alpha=0.3)


def write_ablation_figures(
    stats: pd.DataFrame, envs: Sequence[EnvAblations], out_dir: str | Path, confidence: float = 0.95
) -> list[Path]:
    """Write `FIGURES` into ``out_dir``; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with sns.axes_style("ticks"), sns.plotting_context("notebook"):
        figures = {
            "ablations_curves.png": curves_figure(stats, envs, confidence),
            "ablations_effects.png": effects_figure(stats, envs, confidence),
        }
    paths = []
    for name, fig in figures.items():
        path = out_dir / name
        fig.savefig(path, dpi=100, metadata={"Software": None})  # no timestamp: same inputs, same bytes
        paths.append(path)
    return paths
