"""``reports/table.md``: our MBPO and SAC numbers, next to public reference curves at the same env steps.

Everything in the table comes from ``results/summary.csv``, ``results/stats.csv``, ``results/curves.csv``
and the packaged reference data; nothing is dated or random, so the same runs give the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from mbpo.analysis.reference import (
    ALGO_LABELS,
    GYM_NAMES,
    SOURCES,
    STEP_SOURCES,
    ReferenceValue,
    format_return,
    format_steps,
    load_reference,
    our_env_id,
    reference_value,
)
from mbpo.variants import display_name

BASELINE = ("sac", "default")
METHOD = "mbpo"

# The seed design notes' "Experimental Results" table (mbpo-design-notes.md, section 7): returns at 1M env
# steps as the notes state them, without a source. They are not ours and not checked; shown for context.
DESIGN_NOTES_1M = {
    "halfcheetah": (12_000, 10_000, "1.2x"),
    "hopper": (3_500, 2_800, "1.25x"),
    "walker2d": (5_200, 3_500, "1.5x"),
    "ant": (6_000, 4_000, "1.5x"),
}


def _group_label(algo: str, variant: str) -> str:
    """The registry's label of a run group (`mbpo.variants`), its pipes escaped for a Markdown table cell."""
    return display_name(algo, variant).replace("|", "\\|")


def _env_label(summary: pd.DataFrame, env: str) -> str:
    """``Walker2d-v5``, or ``Walker2d-v5 (paper dynamics)`` when the env's runs used ``env_dynamics: paper``."""
    if "env_dynamics" not in summary:  # a summary from before the option existed: gymnasium's v5
        return our_env_id(env)
    dynamics = sorted(set(summary.loc[summary["env"] == env, "env_dynamics"].dropna()) - {"v5"})
    return f"{our_env_id(env)} ({'/'.join(dynamics)} dynamics)" if dynamics else our_env_id(env)


def comparison_name(algo: str, variant: str) -> str:
    """The ``comparison`` column of ``stats.csv`` for this group vs the baseline."""
    return f"{algo}/{variant} vs {BASELINE[0]}/{BASELINE[1]}"


def _group(frame: pd.DataFrame, env: str, algo: str, variant: str) -> pd.DataFrame:
    return frame[(frame["env"] == env) & (frame["algo"] == algo) & (frame["variant"] == variant)]


def _stat(stats: pd.DataFrame, env: str, algo: str, variant: str, metric: str) -> pd.Series | None:
    """One row of ``stats.csv``; per-group metrics have an empty ``comparison``."""
    comparison = "" if metric in ("iqm_return", "mean_return") else comparison_name(algo, variant)
    rows = _group(stats, env, algo, variant)
    rows = rows[(rows["metric"] == metric) & (rows["comparison"].fillna("") == comparison)]
    return None if rows.empty else rows.iloc[0]


def _fmt_ci(row: pd.Series | None, fmt=format_return) -> str:
    if row is None or not np.isfinite(row["estimate"]):
        return "n/a"
    if not (np.isfinite(row["ci_low"]) and np.isfinite(row["ci_high"])):
        return fmt(row["estimate"])
    return f"{fmt(row['estimate'])} [{fmt(row['ci_low'])}, {fmt(row['ci_high'])}]"


def _fmt_ratio(value: float) -> str:
    return f"{value:.2f}" if np.isfinite(value) else "n/a"


def _fmt_p(p: float) -> str:
    if not np.isfinite(p):
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _fmt_tests(row: pd.Series | None) -> str:
    """``p (Holm-adjusted p)``."""
    if row is None:
        return "n/a"
    return f"{_fmt_p(row['p_value'])} ({_fmt_p(row['p_value_holm'])})"


def _fmt_efficiency(row: pd.Series | None) -> str:
    if row is None or not np.isfinite(row["estimate"]):
        return "n/a"
    lower_bound = str(row["note"]).startswith(">")
    return f"{'> ' if lower_bound else ''}{row['estimate']:.1f}x"


def _fmt_reference(v: ReferenceValue | None) -> str:
    """``mean [low, high] (Env-vN)``; no brackets for a single seed."""
    if v is None:
        return "no curve"
    if not v.available:
        return f"n/a ({v.env_id})"
    band = "" if v.source.band == "1 seed" else f" [{format_return(v.low)}, {format_return(v.high)}]"
    return f"{format_return(v.mean)}{band} ({v.env_id})"


def _group_steps(summary: pd.DataFrame, env: str, algo: str, variant: str) -> int | None:
    g = _group(summary, env, algo, variant)
    return None if g.empty else int(g["steps"].max())


def window_steps(summary: pd.DataFrame, curves: pd.DataFrame, env: str, algo: str, variant: str) -> np.ndarray:
    """The env steps of a group's final-return window (the last ``final_window`` evaluations)."""
    g, c = _group(summary, env, algo, variant), _group(curves, env, algo, variant)
    start, end = g["window_start_step"].min(), g["steps"].max()
    return np.unique(c.loc[(c["env_step"] >= start) & (c["env_step"] <= end), "env_step"].to_numpy())


def _relation(ours: float, ref: ReferenceValue) -> str:
    """Where our IQM sits against one reference: inside its band, or how far below/above it."""
    comparable = ref.mean > 0 and ours >= 0  # a percentage of a negative or zero return means nothing
    if ref.source.band == "1 seed":
        where = f"{ours / ref.mean:.0%} of" if comparable else "vs"
        return f"{where} {ref.source.label} ({ref.env_id}, 1 seed: {format_return(ref.mean)})"
    if ref.low <= ours <= ref.high:
        where = "inside"
    elif ours < ref.low:
        where = f"{format_return(ref.low - ours)} below"
    else:
        where = f"{format_return(ours - ref.high)} above"
    band = f"[{format_return(ref.low)}, {format_return(ref.high)}] ({ref.source.band}, {ref.env_id})"
    of_mean = f", {ours / ref.mean:.0%} of its mean {format_return(ref.mean)}" if comparable else ""
    return f"{where} {ref.source.label} {band}{of_mean}"


def _interpretation(
    env: str, summary: pd.DataFrame, stats: pd.DataFrame, curves: pd.DataFrame, ref: pd.DataFrame
) -> str:
    parts = []
    for algo, variant in ((METHOD, "default"), BASELINE):
        row = _stat(stats, env, algo, variant, "iqm_return")
        if row is None:
            continue
        steps = window_steps(summary, curves, env, algo, variant)
        values = [reference_value(ref, s, env, steps) for s in STEP_SOURCES if SOURCES[s].algo == algo]
        values = [v for v in values if v is not None]
        usable = [v for v in values if v.available]
        ours = f"Our {ALGO_LABELS[algo]} IQM {format_return(row['estimate'])} @{format_steps(steps.max())}"
        if usable:
            parts.append(f"{ours}: " + "; ".join(_relation(row["estimate"], v) for v in usable) + ".")
        elif values:
            names = ", ".join(v.source.label for v in values)
            parts.append(f"{ours}: no reference covers these steps ({names}).")
        else:
            parts.append(f"{ours}: no {ALGO_LABELS[algo]} reference curve for this env.")
    return f"- **{_env_label(summary, env)}**. " + " ".join(parts) if parts else ""


def _main_table(summary: pd.DataFrame, stats: pd.DataFrame, envs: Sequence[str], conf: str) -> list[str]:
    lines = [
        f"| Env | Steps | MBPO IQM [{conf} CI] | {_group_label(*BASELINE)} IQM [{conf} CI] | Seeds MBPO/SAC "
        f"| IQM ratio MBPO/SAC [{conf} CI] | Sample efficiency | P(MBPO > SAC) "
        "| Welch p (Holm) | Mann-Whitney p (Holm) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for env in envs:
        mbpo = _stat(stats, env, METHOD, "default", "iqm_return")
        sac = _stat(stats, env, *BASELINE, "iqm_return")
        steps = {_group_steps(summary, env, a, v) for a, v in ((METHOD, "default"), BASELINE)} - {None}
        n = "/".join(str(int(r["n"])) if r is not None else "0" for r in (mbpo, sac))
        cells = [
            _env_label(summary, env),
            " / ".join(format_steps(s) for s in sorted(steps)),
            _fmt_ci(mbpo),
            _fmt_ci(sac),
            n,
            _fmt_ci(_stat(stats, env, METHOD, "default", "iqm_ratio"), _fmt_ratio),
            _fmt_efficiency(_stat(stats, env, METHOD, "default", "sample_efficiency_ratio")),
            _fmt_ci(_stat(stats, env, METHOD, "default", "prob_improvement"), _fmt_ratio),
            _fmt_tests(_stat(stats, env, METHOD, "default", "welch_t")),
            _fmt_tests(_stat(stats, env, METHOD, "default", "mann_whitney_u")),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _reference_table(
    summary: pd.DataFrame, curves: pd.DataFrame, stats: pd.DataFrame, envs: Sequence[str], ref: pd.DataFrame
) -> list[str]:
    header = ["Env", "Our window"]
    for algo in (METHOD, BASELINE[0]):
        header += [
            f"Ours {ALGO_LABELS[algo]}",
            *(SOURCES[s].label for s in STEP_SOURCES if SOURCES[s].algo == algo),
        ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for env in envs:
        cells = [_env_label(summary, env)]
        windows = []
        for algo, variant in ((METHOD, "default"), BASELINE):
            steps = window_steps(summary, curves, env, algo, variant)
            if steps.size:
                windows.append(f"{format_steps(steps.min())}-{format_steps(steps.max())}")
            row = _stat(stats, env, algo, variant, "iqm_return")
            algo_cells = [format_return(row["estimate"]) if row is not None else "n/a"]
            for s in STEP_SOURCES:
                if SOURCES[s].algo == algo:
                    algo_cells.append(_fmt_reference(reference_value(ref, s, env, steps) if steps.size else None))
            cells += algo_cells
        cells.insert(1, " / ".join(dict.fromkeys(windows)) or "n/a")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _design_notes_table(ref: pd.DataFrame) -> list[str]:
    lines = [
        "| Env | MBPO @1M (notes) | SAC @1M (notes) | Speedup (notes) "
        "| SAC, Tianshou @1M (public curve) | SAC, erl_lib long @1M (public curve) |",
        "|---|---|---|---|---|---|",
    ]
    for env, (mbpo, sac, speedup) in DESIGN_NOTES_1M.items():
        cells = [GYM_NAMES[env], f"{mbpo:,}", f"{sac:,}", speedup]
        for source in ("tianshou/sac", "erl_lib/sac_long"):
            cells.append(_fmt_reference(reference_value(ref, source, env, [1_000_000])))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _variants_table(
    summary: pd.DataFrame, stats: pd.DataFrame, envs: Sequence[str], conf: str, algo: str = METHOD
) -> list[str]:
    groups = summary[(summary["algo"] == algo) & (summary["variant"] != "default")][["env", "variant"]]
    if groups.empty:
        return []
    lines = [
        f"## {ALGO_LABELS.get(algo, algo)} variants",
        "",
        f"| Env | Variant | Label | Steps | IQM [{conf} CI] | Seeds | IQM ratio vs {_group_label(*BASELINE)} "
        f"[{conf} CI] | Welch p (Holm) | Mann-Whitney p (Holm) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for env in envs:
        for variant in sorted(groups.loc[groups["env"] == env, "variant"].unique()):
            row = _stat(stats, env, algo, variant, "iqm_return")
            cells = [
                _env_label(summary, env),
                f"`{variant}`",
                _group_label(algo, variant),
                format_steps(_group_steps(summary, env, algo, variant)),
                _fmt_ci(row),
                str(int(row["n"])) if row is not None else "0",
                _fmt_ci(_stat(stats, env, algo, variant, "iqm_ratio"), _fmt_ratio),
                _fmt_tests(_stat(stats, env, algo, variant, "welch_t")),
                _fmt_tests(_stat(stats, env, algo, variant, "mann_whitney_u")),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def render_table(
    summary: pd.DataFrame,
    stats: pd.DataFrame,
    curves: pd.DataFrame,
    *,
    envs: Sequence[str],
    config_files: Sequence[str],
    name: str,
    final_window: int,
    confidence: float = 0.95,
    stats_path: str = "results/stats.csv",
    reference: pd.DataFrame | None = None,
) -> str:
    """The whole ``table.md`` as a string (ends with a newline); one row per env of ``envs``, in order."""
    missing = sorted(set(envs) - set(summary["env"]))
    if missing:
        raise ValueError(f"no runs for env(s) {', '.join(missing)} in the summary")
    ref = load_reference() if reference is None else reference
    conf = f"{confidence:.0%}"
    seeds = summary.groupby(["env", "algo", "variant"])["seed"].nunique()
    seed_text = f"{seeds.min()}" if seeds.min() == seeds.max() else f"{seeds.min()} to {seeds.max()}"
    algos = ", ".join(ALGO_LABELS.get(a, a) for a in dict.fromkeys(summary["algo"]))
    overall = _stat(stats, "all", METHOD, "default", "iqm_normalized_return")

    out = [
        "# MBPO vs SAC on MuJoCo v5",
        "",
        f"Produced by `snakemake` from {' + '.join(f'`{f}`' for f in config_files)} (protocol `{name}`): "
        f"{len(envs)} envs x {algos}, {seed_text} seeds per env and algorithm, {len(summary)} runs.",
        f"A run's final return is the mean of its last {final_window} evaluations (deterministic policy). "
        f"IQM = interquartile mean over seeds; intervals are {conf} percentile-bootstrap CIs over seeds; "
        f"p-values are two-sided, Holm-adjusted across envs in parentheses. All estimates: `{stats_path}`.",
        "",
        "## Our runs",
        "",
        *_main_table(summary, stats, envs, conf),
        "",
        "Sample efficiency = env steps SAC's IQM curve needs to reach MBPO's final IQM, divided by MBPO's "
        "steps (`> x`: SAC never got there within its budget, so x is a lower bound).",
    ]
    if overall is not None:
        out += [
            "",
            f"Across envs, the IQM of MBPO's final returns normalised by SAC's mean return per env is "
            f"{_fmt_ci(overall, _fmt_ratio)} ({overall['note']}).",
        ]
    out += [
        "",
        "## Reference curves at our env steps",
        "",
        "Public learning curves (`mbpo/reference/README.md` gives provenance), averaged over the same env "
        "steps as our final-return window and interpolated between their logged evaluations, never "
        "extrapolated (`n/a`: the curve does not cover those steps). Brackets: the range over the "
        'source\'s seeds, except for the official MBPO curve, whose 5 "seeds" are synthetic '
        "(mean +/- 1 std, inferred). Env versions differ from ours (v5): a few percent is expected.",
        "",
        *_reference_table(summary, curves, stats, envs, ref),
        "",
        "### Reading",
        "",
        *[line for env in envs if (line := _interpretation(env, summary, stats, curves, ref))],
        "",
        *_variants_table(summary, stats, envs, conf),
        *_variants_table(summary, stats, envs, conf, BASELINE[0]),
        "## The design notes' numbers (not ours)",
        "",
        "Returns at 1M env steps as stated, without a source, in the project's seed design notes "
        f"(`mbpo-design-notes.md`, section 7). Our runs stop at {format_steps(summary['steps'].max())} env "
        "steps, so no row of ours compares to them; public SAC curves at 1M are shown as a check.",
        "",
        *_design_notes_table(ref),
        "",
    ]
    return "\n".join(out)
