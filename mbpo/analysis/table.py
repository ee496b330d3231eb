"""``reports/table.md``: our MBPO and SAC numbers, next to public reference curves at the same env steps.

Everything in the table comes from ``results/summary.csv``, ``results/stats.csv``, ``results/curves.csv``,
``results/runs.csv`` (the header's facts, read from the runs' own configs, and the compute table) and the
packaged reference data; nothing is dated or random, so the same runs give the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mbpo.analysis.estimators import iqm_trimmed
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
from mbpo.analysis.runinfo import OTHER, PHASES, UNKNOWN
from mbpo.analysis.stats import NOT_ESTABLISHED
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


def _finite(row: pd.Series | None, column: str = "estimate") -> bool:
    return row is not None and bool(np.isfinite(row[column]))


def format_ci(row: pd.Series | None, fmt=format_return) -> str:
    """A stats.csv row as ``estimate [ci_low, ci_high]`` (the estimate alone without a CI, n/a without one)."""
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
    """``2.9x [2.1, 3.8]``, prefixed with "not established:" as stats says."""
    if not _finite(row):
        return "n/a"
    value = f"{row['estimate']:.2f}x"
    if _finite(row, "ci_low") and _finite(row, "ci_high"):
        value += f" [{row['ci_low']:.2f}, {row['ci_high']:.2f}]"
    return f"{NOT_ESTABLISHED}: {value}" if str(row["note"]).startswith(NOT_ESTABLISHED) else value


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
        where = "inside the band of"
    elif ours < ref.low:
        where = f"{format_return(ref.low - ours)} below the band of"
    else:
        where = f"{format_return(ours - ref.high)} above the band of"
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


def _budget_note(summary: pd.DataFrame, envs: Sequence[str]) -> list[str]:
    """A paragraph on unequal budgets, where some env gives MBPO and SAC different ones."""
    pairs = [{_group_steps(summary, env, a, v) for a, v in ((METHOD, "default"), BASELINE)} for env in envs]
    if all(len(p - {None}) <= 1 for p in pairs):
        return []
    return [
        "**Budgets**: *Steps* gives MBPO's / SAC's budget where they differ. Each IQM column is at that "
        "algorithm's own budget, and for the longer-trained one also at the smaller budget (`@10k: ...`). "
        "The IQM ratio, P(MBPO > SAC) and the mean difference compare both at the smaller budget, each run "
        "by its mean return over the same final window of env steps, read off the longer runs' learning "
        "curves (each row's note in the stats file says which steps).",
        "",
    ]


def _main_table(summary: pd.DataFrame, stats: pd.DataFrame, envs: Sequence[str], conf: str) -> list[str]:
    lines = [
        f"| Env | Steps | MBPO IQM [{conf} CI] | {_group_label(*BASELINE)} IQM [{conf} CI] | Seeds MBPO/SAC "
        f"| IQM ratio MBPO/SAC [{conf} CI] | Sample efficiency [{conf} CI] | P(MBPO > SAC) [{conf} CI] "
        f"| Mann-Whitney p (Holm) | Mean MBPO - SAC [{conf} CI] | Welch p (Holm) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for env in envs:
        groups = ((METHOD, "default"), BASELINE)
        mbpo, sac = (_stat(stats, env, *g, "iqm_return") for g in groups)
        budgets = [_group_steps(summary, env, *g) for g in groups]
        steps = list(dict.fromkeys(s for s in budgets if s is not None))  # "MBPO / SAC" where budgets differ
        n = "/".join(str(int(r["n"])) if r is not None else "0" for r in (mbpo, sac))
        improvement = _stat(stats, env, METHOD, "default", "prob_improvement")
        difference = _stat(stats, env, METHOD, "default", "mean_difference")
        iqms = [format_ci(mbpo), format_ci(sac)]
        if len(steps) == 2:  # the longer-trained side also at the shorter budget, where the two are compared
            common = min(steps)
            for i, metric in enumerate(("iqm_return_compared", "baseline_iqm_return_compared")):
                if budgets[i] != common:
                    iqms[i] += f"; @{format_steps(common)}: {format_ci(_stat(stats, env, METHOD, 'default', metric))}"
        cells = [
            _env_label(summary, env),
            " / ".join(format_steps(s) for s in steps),
            *iqms,
            n,
            format_ci(_stat(stats, env, METHOD, "default", "iqm_ratio"), _fmt_ratio),
            _fmt_efficiency(_stat(stats, env, METHOD, "default", "sample_efficiency")),
            format_ci(improvement, _fmt_ratio),
            _fmt_tests(improvement),
            format_ci(difference),
            _fmt_tests(difference),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    ratio = _stat(stats, "all", METHOD, "default", "iqm_ratio")
    improvement = _stat(stats, "all", METHOD, "default", "prob_improvement")
    if ratio is not None or improvement is not None:
        cells = [
            "**All envs**",
            "",
            "",
            "",
            "",
            format_ci(ratio, _fmt_ratio),
            "",
            format_ci(improvement, _fmt_ratio),
            "",
            "",
            "",
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
        f"[{conf} CI] | P(variant > SAC) [{conf} CI] | Mann-Whitney p (Holm) | Mean variant - SAC [{conf} CI] "
        "| Welch p (Holm) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for env in envs:
        for variant in sorted(groups.loc[groups["env"] == env, "variant"].unique()):
            row = _stat(stats, env, algo, variant, "iqm_return")
            improvement = _stat(stats, env, algo, variant, "prob_improvement")
            difference = _stat(stats, env, algo, variant, "mean_difference")
            cells = [
                _env_label(summary, env),
                f"`{variant}`",
                _group_label(algo, variant),
                format_steps(_group_steps(summary, env, algo, variant)),
                format_ci(row),
                str(int(row["n"])) if row is not None else "0",
                format_ci(_stat(stats, env, algo, variant, "iqm_ratio"), _fmt_ratio),
                format_ci(improvement, _fmt_ratio),
                _fmt_tests(improvement),
                format_ci(difference),
                _fmt_tests(difference),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def _distinct(runs: pd.DataFrame, column: str, fmt=str) -> str:
    """The value every run has; else each value with the envs that have it, where the value is one per env
    (``250 (InvertedPendulum-v5), 1,000 (Hopper-v5)``); else with the env, algorithm and variant groups."""
    known = runs.dropna(subset=[column])
    if known.empty:
        return "not recorded"
    if known[column].nunique() == 1:
        return fmt(known[column].iloc[0])
    keys = ["gym_id"] if (known.groupby("gym_id")[column].nunique() == 1).all() else ["gym_id", "algo", "variant"]
    groups: dict[Any, list[str]] = {}
    for key, group in known.groupby(keys, sort=False):
        env, *algo_variant = key  # pandas >= 2: a tuple, also for one key
        if algo_variant:
            algo, variant = algo_variant
            env = f"{env} {ALGO_LABELS.get(algo, algo)}{'' if variant == 'default' else f' ({variant})'}"
        for value in group[column].unique():
            groups.setdefault(value, []).append(env)
    return ", ".join(f"{fmt(value)} ({', '.join(names)})" for value, names in sorted(groups.items()))


def _variants_text(summary: pd.DataFrame) -> str:
    """Which variants ran; the baseline every comparison is made against."""
    text = f"Baseline: {ALGO_LABELS[BASELINE[0]]}'s `{BASELINE[1]}` variant."
    others = summary.loc[summary["variant"] != "default", ["algo", "variant"]].drop_duplicates()
    if others.empty:
        return text
    names = ", ".join(f"{ALGO_LABELS.get(a, a)} `{v}`" for a, v in others.itertuples(index=False))
    return f"{text} Other variants, each compared with it: {names}."


def _iqm_text(summary: pd.DataFrame) -> str:
    """What the IQM over seeds means at this seed count: how many seeds it trims at each end."""
    counts = sorted(set(summary.groupby(["env", "algo", "variant"])["seed"].nunique()))
    parts = []
    for n in counts:
        cut = iqm_trimmed(n)
        if cut == 0:
            parts.append(f"with {n} seeds it trims none (below 4 seeds the IQM is the mean)")
        else:
            parts.append(f"with {n} seeds it trims {cut} at each end (the mean of the middle {n - 2 * cut})")
    return "; ".join(parts)


def _protocol(runs: pd.DataFrame | None, summary: pd.DataFrame, envs: Sequence[str], final_window: int) -> list[str]:
    """The header's facts about the runs, read from their own ``config.yaml`` (via ``runs.csv``)."""
    if runs is None:
        return [
            "Env versions and the evaluation protocol are not recorded here (no `runs.csv` given); "
            f"a run's final return is the mean of its last {final_window} evaluations."
        ]
    ids = ", ".join(dict.fromkeys(runs.set_index("env").loc[list(envs), "gym_id"]))
    dynamics = {"v5": "gymnasium's v5 dynamics", "paper": "v5 with the paper's (v2) dynamics restored"}
    warmup = int(runs["warmup_evals"].sum())
    return [
        f"**Envs** (from the runs' `config.yaml`): {ids}; "
        f"env dynamics: {_distinct(runs, 'env_dynamics', lambda d: f'`{d}` ({dynamics.get(d, d)})')}.",
        f"**Evaluation**: every {_distinct(runs, 'eval_every', lambda x: f'{int(x):,}')} env steps, "
        f"{_distinct(runs, 'eval_episodes', lambda x: str(int(x)))} episode(s) of the deterministic policy "
        "(tanh of the mean action) on a separate env. Evaluations logged during the random warm-up "
        f"(the first {_distinct(runs, 'init_exploration_steps', lambda x: f'{int(x):,}')} env steps) are "
        f"left out of curves and final returns ({warmup} such evaluation{'s' if warmup != 1 else ''} here; runs "
        "older than the `eval/warmup` column count none). "
        f"A run's **final return** is the mean of its last {final_window} evaluations after the warm-up.",
    ]


def _fmt_duration(seconds: float) -> str:
    if not np.isfinite(seconds):
        return "n/a"
    if seconds >= 3600:
        return f"{seconds / 3600:.2f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.1f} s"


def compute_table(runs: pd.DataFrame, envs: Sequence[str]) -> list[str]:
    """Mean training wall-clock per run, per env and algorithm, and the share of each timed phase."""
    phases = [*PHASES, *(c[5:-2] for c in runs.columns if c.startswith("time_") and c[5:-2] not in {*PHASES, OTHER})]
    names = [PHASES.get(p, p) for p in phases]
    lines = [
        "| Env | Algorithm | Runs | Wall-clock per run: mean (min-max) | " + " | ".join(names) + " | other | Machine |",
        "|" + "---|" * (len(phases) + 6),
    ]
    for env in envs:
        for (algo, variant), g in runs[runs["env"] == env].groupby(["algo", "variant"], sort=False):
            wall = g["wall_time_s"].to_numpy(dtype=float)
            total = np.nansum(wall)
            shares = [
                f"{np.nansum(g[f'time_{p}_s'].to_numpy(dtype=float)) / total:.0%}" if total > 0 else "n/a"
                for p in [*phases, OTHER]
            ]
            machines = [m for m in dict.fromkeys(g["machine"]) if m]
            machine = machines[0] if len(machines) == 1 else f"{len(machines)} machines: " + "; ".join(machines)
            cells = [
                our_env_id(env),
                ALGO_LABELS.get(algo, algo) + ("" if variant == "default" else f" (`{variant}`)"),
                str(len(g)),
                f"{_fmt_duration(np.nanmean(wall))} ({_fmt_duration(np.nanmin(wall))}-{_fmt_duration(np.nanmax(wall))})"
                if np.isfinite(wall).any()
                else "n/a",
                *shares,
                machine if machine != UNKNOWN else "unknown (no `provenance.yaml`)",
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def render_table(
    summary: pd.DataFrame,
    stats: pd.DataFrame,
    curves: pd.DataFrame,
    runs: pd.DataFrame | None = None,
    *,
    envs: Sequence[str],
    config_files: Sequence[str],
    name: str,
    final_window: int,
    confidence: float = 0.95,
    stats_path: str = "results/stats.csv",
    reference: pd.DataFrame | None = None,
) -> str:
    """The whole ``table.md`` as a string (ends with a newline); one row per env of ``envs``, in order.

    ``runs`` (``runs.csv``) supplies the header's env versions and evaluation protocol and the compute
    table; without it they are marked as not recorded.
    """
    missing = sorted(set(envs) - set(summary["env"]))
    if missing:
        raise ValueError(f"no runs for env(s) {', '.join(missing)} in the summary")
    ref = load_reference() if reference is None else reference
    conf = f"{confidence:.0%}"
    seeds = summary.groupby(["env", "algo", "variant"])["seed"].nunique()
    seed_text = f"{seeds.min()}" if seeds.min() == seeds.max() else f"{seeds.min()} to {seeds.max()}"
    algos = ", ".join(ALGO_LABELS.get(a, a) for a in dict.fromkeys(summary["algo"]))
    overall = _stat(stats, "all", METHOD, "default", "iqm_ratio")
    efficiency = [(env, _stat(stats, env, METHOD, "default", "sample_efficiency")) for env in envs]

    out = [
        "# MBPO vs SAC on MuJoCo v5",
        "",
        f"Produced by `snakemake` from {' + '.join(f'`{f}`' for f in config_files)} (protocol `{name}`): "
        f"{len(envs)} envs x {algos}, {seed_text} seeds per env and algorithm, {len(summary)} runs. "
        f"{_variants_text(summary)}",
        "",
        *_protocol(runs, summary, envs, final_window),
        "",
        f"**Statistics**: IQM = interquartile mean over seeds; {_iqm_text(summary)}. Intervals are {conf} "
        "percentile-bootstrap CIs, resampling seeds within each env and algorithm. p-values are two-sided, "
        f"Holm-adjusted across envs in parentheses. Every estimate, with its note: `{stats_path}`.",
        "",
        "## Our runs",
        "",
        *_main_table(summary, stats, envs, conf),
        "",
        "**Sample efficiency**: how many times fewer env steps MBPO needs than SAC to reach the same score. "
        "The threshold is the lower of the two final IQMs, a score both reached within their own budgets: "
        "SAC's final where MBPO ends higher (the paper's \"reaches SAC's asymptote x times sooner\"), MBPO's "
        "where SAC ends higher, e.g. after a longer budget. x = (env steps SAC's IQM curve needs to reach it) / "
        "(env steps MBPO's IQM curve needs), each at most its budget; CI by resampling seeds. "
        f"*{NOT_ESTABLISHED}*: the CI includes 1, the two IQM curves' CI bands overlap at every step, or a "
        "group has fewer than 2 seeds.",
        "",
        *[f"- {our_env_id(env)}: {row['note']}." for env, row in efficiency if row is not None],
        "",
        *_budget_note(summary, envs),
        "**P(MBPO > SAC)**: the probability that a random MBPO run beats a random SAC run (ties count half); "
        "the Mann-Whitney test beside it tests exactly P = 0.5. **Mean MBPO - SAC**: the difference of mean "
        "final returns, with Welch's t-test.",
    ]
    improvement = _stat(stats, "all", METHOD, "default", "prob_improvement")
    if overall is not None or improvement is not None:
        parts = [f"the IQM ratio is the {overall['note']}" if overall is not None else ""]
        parts.append(f"P(MBPO > SAC) is the {improvement['note']}" if improvement is not None else "")
        out += [
            "",
            f"**All envs**: {'; '.join(p for p in parts if p)}. Both CIs resample seeds within each env and algorithm.",
        ]
    if runs is not None:
        out += [
            "",
            "## Compute",
            "",
            "Training wall-clock of one run (the last `wall_time_s` of its `metrics.csv`, summed across "
            "resumes), and the share of the total spent in each timed phase (the `time/*_s` columns; "
            "*other* is what no phase timed). The machine comes from each run's `provenance.yaml`. Curves "
            "against wall-clock hours: `figures/curves_<env>.png`, right panel.",
            "",
            *compute_table(runs, envs),
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
