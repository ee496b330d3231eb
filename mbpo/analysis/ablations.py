"""``reports/ablations.md``: which of MBPO's parts matter, each ablation against MBPO's ``default``, per env.

Each variant of `mbpo.variants` changes one thing about how rollouts use the model (`mbpo.model_usage`).
Per env, every variant that ran is compared with ``default`` at the same env-step budget: its IQM over
seeds with a bootstrap CI, the IQM difference (variant - default) with a two-sample bootstrap CI, and the
probability of improvement with the Mann-Whitney test, Holm-adjusted across the variants compared in that
env (the family a reader scans for "which one matters"). The estimators are those of the main table
(`estimators`, `bootstrap`, `curves`); this module decides which rows exist and writes the words.

A variant whose effective settings in an env equal ``default``'s (``fixed-k1`` where the schedule is k = 1
at every epoch) is the same run by construction: it is reported as such and left out of the tests. A
variant missing from the config is absent from the report, never shown as a zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from mbpo.analysis.bootstrap import stratified_bootstrap_ci, two_sample_bootstrap_ci
from mbpo.analysis.curves import curve_band, seed_matrix
from mbpo.analysis.estimators import (
    aggregate_iqm,
    holm,
    iqm_difference,
    iqm_trimmed,
    mann_whitney_u,
    probability_of_improvement,
)
from mbpo.analysis.reference import format_return, our_env_id
from mbpo.analysis.runs import RunKey
from mbpo.analysis.stats import STATS_COLUMNS, iqm_note, learned_curves
from mbpo.analysis.table import format_ci
from mbpo.schedule import rollout_lengths
from mbpo.variants import variants_for

BASELINE = "default"


@dataclass(frozen=True)
class Measure:
    """One number per run that the ablations are compared on, and the names of its rows in the stats file."""

    label: str
    iqm: str
    difference: str
    improvement: str


FINAL = Measure("final return", "iqm_return", "iqm_difference", "prob_improvement")
# A run's mean return over every evaluation after the warm-up: its learning curve's area over its length.
# On a task every variant masters within the budget (InvertedPendulum), final returns tie at the ceiling
# and only this tells a variant that learns later from one that learns sooner.
OVER_RUN = Measure(
    "mean return over the run", "iqm_run_return", "run_return_iqm_difference", "run_return_prob_improvement"
)
MEASURES = (FINAL, OVER_RUN)
ALPHA = 0.05  # the level at which the reading calls a Holm-adjusted difference established
COMPARISON = "mbpo/{variant} vs mbpo/default"
# Keys that say which run this is or how it was bookkept, not what it computes.
_BOOKKEEPING = {"variant", "seed", "device", "wandb_project", "wandb_mode", "checkpoint_every", "keep_checkpoint"}
# Replaced by the k each epoch actually rolls, so two spellings of the same lengths compare equal.
_LENGTH_KEYS = {"rollout_schedule", "rollout_fixed_length"}
_DIAGNOSTICS = {
    "alive": "rollout/alive_fraction",
    "uncertainty": "rollout/uncertainty",
    "penalty_share": "rollout/penalty_share",
    "precision": "termination/precision",
    "recall": "termination/recall",
}


# --------------------------------------------------------------------------------------------------
# What each run computed, from its own files
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunFacts:
    """One MBPO run as the report needs it: its resolved config and its rollout diagnostics.

    ``diagnostics`` holds the mean over the run's metrics rows of each `_DIAGNOSTICS` column it logged.
    """

    key: RunKey
    config: dict[str, Any]
    diagnostics: dict[str, float] = field(default_factory=dict)


def read_run_facts(run_dir: str | Path) -> RunFacts:
    """``config.yaml`` and ``metrics.csv`` of a run directory ``.../{env}/mbpo/{variant}/seed{N}``."""
    run_dir = Path(run_dir)
    key = RunKey.from_dir(run_dir)
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    metrics = pd.read_csv(run_dir / "metrics.csv")
    diagnostics = {
        name: float(np.nanmean(values))
        for name, column in _DIAGNOSTICS.items()
        if column in metrics and np.isfinite(values := pd.to_numeric(metrics[column], errors="coerce")).any()
    }
    return RunFacts(key, config, diagnostics)


def effective_setup(config: Mapping[str, Any]) -> dict[str, Any]:
    """What a run computes: its config without identity and bookkeeping, with the k of every epoch in place
    of the schedule keys. Two runs with equal setups and seeds are the same run (on one device)."""
    setup = {k: v for k, v in config.items() if k not in _BOOKKEEPING | _LENGTH_KEYS}
    return setup | {"rollout_lengths": rollout_lengths(config)}


def with_overrides(config: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` with a variant's nested overrides applied (what that variant would have resolved to)."""
    out = dict(config)
    for key, value in overrides.items():
        out[key] = with_overrides(out.get(key, {}), value) if isinstance(value, Mapping) else value
    return out


def describe_lengths(lengths: Sequence[int]) -> str:
    """``1 -> 11`` for a schedule, ``15`` for a constant k."""
    if not lengths:
        return "n/a"
    if min(lengths) == max(lengths):
        return str(lengths[0])
    return f"{lengths[0]} → {max(lengths)}"


# --------------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------------


def _row(env: str, variant: str, metric: str, **values: Any) -> dict[str, Any]:
    comparison = "" if variant == BASELINE or metric in ("iqm_curve", *(m.iqm for m in MEASURES)) else COMPARISON
    row = dict(env=env, algo="mbpo", variant=variant, comparison=comparison.format(variant=variant), metric=metric)
    return row | values


def _iqm_rows(
    env: str, variant: str, metric: str, x: np.ndarray, rng, n_resamples: int, confidence: float
) -> list[dict]:
    if x.size < 2:
        return [_row(env, variant, metric, estimate=float(x.mean()), n=x.size, note=f"{iqm_note(x.size)}; no CI")]
    point, lo, hi = stratified_bootstrap_ci(x, aggregate_iqm, rng, n_resamples, confidence)
    return [_row(env, variant, metric, estimate=point, ci_low=lo, ci_high=hi, n=x.size, note=iqm_note(x.size))]


def _curve_rows(env: str, variant: str, c: pd.DataFrame, rng, n_resamples: int, confidence: float) -> list[dict]:
    steps, mat, seeds = seed_matrix(c, "return")
    point, lo, hi = curve_band(mat, rng, n_resamples, confidence, "iqm")
    note = f"{iqm_note(len(seeds))} at each step"
    return [
        _row(env, variant, "iqm_curve", at=s, estimate=p, ci_low=a, ci_high=b, n=len(seeds), note=note)
        for s, p, a, b in zip(steps, point, lo, hi, strict=True)
    ]


def _effect_rows(
    env: str, variant: str, measure: Measure, xv: np.ndarray, xd: np.ndarray, rng, n_resamples: int, confidence: float
) -> list[dict]:
    """The IQM difference (variant - default) and the probability of improvement, with the Mann-Whitney
    p-value, of one measure."""
    n = min(xv.size, xd.size)
    few = n < 2
    note = f"fewer than 2 seeds (n={xv.size} vs {xd.size}): no CI or test" if few else ""
    if not few and xv.size != xd.size:
        note = f"unequal seeds (n={xv.size} vs {xd.size})"
    rows = []
    statistics = ((measure.difference, iqm_difference), (measure.improvement, probability_of_improvement))
    for metric, statistic in statistics:
        if few:
            values = dict(estimate=float(statistic(xv[None], xd[None])[0]))
        else:
            point, lo, hi = two_sample_bootstrap_ci(xv, xd, statistic, rng, n_resamples, confidence)
            values = dict(estimate=point, ci_low=lo, ci_high=hi)
        if metric == measure.improvement:
            values |= dict(test="mann_whitney_u", p_value=np.nan if few else mann_whitney_u(xv, xd))
        rows.append(_row(env, variant, metric, **values, n=n, note=note))
    return rows


def ablation_stats(
    summary: pd.DataFrame,
    curves: pd.DataFrame,
    variants: Mapping[str, Sequence[str]],
    identical: set[tuple[str, str]],
    rng: np.random.Generator,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Tidy rows (``STATS_COLUMNS``, ``algo = mbpo``) of every number ``ablations.md`` cites.

    Args:
        summary, curves: `mbpo.analysis.runs.aggregate` of the default and ablation runs.
        variants: per env, the ablations to compare with ``default`` (in report order).
        identical: ``(env, variant)`` pairs that equal ``default`` by construction: no effect rows, and
            not counted in the Holm family.
        rng: the only randomness, drawn in a fixed order (envs, then groups, as listed).

    Two measures per run (`MEASURES`): its final return, and its mean return over the run. Per (env,
    group), for each: the IQM over seeds (stratified bootstrap CI), and ``iqm_curve`` at every evaluated
    step after the warm-up. Per (env, variant), for each: the IQM difference and the probability of
    improvement (two-sample bootstrap CIs), the latter with ``mann_whitney_u`` p-values, ``p_value_holm``
    across the env's compared variants, one family per measure. Budgets must be equal within an env (the
    workflow runs them so).
    """
    curves = learned_curves(curves)
    rows: list[dict] = []
    for env, names in variants.items():
        s_env = summary[(summary["env"] == env) & (summary["algo"] == "mbpo")]
        budgets = s_env.groupby("variant")["steps"].unique()
        if any(len(b) > 1 for b in budgets) or len({int(b[0]) for b in budgets}) > 1:
            raise ValueError(f"{env}: ablation runs must share default's budget, got {budgets.to_dict()}")
        finals = {v: g.sort_values("seed")["final_return"].to_numpy(dtype=float) for v, g in s_env.groupby("variant")}
        if BASELINE not in finals:
            raise ValueError(f"{env}: no `default` runs to compare the ablations with")
        c_env = curves[(curves["env"] == env) & (curves["algo"] == "mbpo")]
        env_rows = []
        values: dict[Measure, dict[str, np.ndarray]] = {FINAL: finals, OVER_RUN: {}}
        for variant in [BASELINE, *names]:
            if variant not in finals:
                raise ValueError(f"{env}: no runs of variant {variant!r} in the summary")
            c = c_env[c_env["variant"] == variant]
            seeds = sorted(s_env.loc[s_env["variant"] == variant, "seed"])  # the order of `finals`
            values[OVER_RUN][variant] = c.groupby("seed")["return"].mean().reindex(seeds).to_numpy(dtype=float)
            for measure in MEASURES:
                env_rows += _iqm_rows(env, variant, measure.iqm, values[measure][variant], rng, n_resamples, confidence)
            if not c.empty:
                env_rows += _curve_rows(env, variant, c, rng, n_resamples, confidence)
        for variant in names:
            for measure in MEASURES:
                xv, xd = values[measure][variant], values[measure][BASELINE]
                if (env, variant) in identical:
                    note = "identical to default by construction (the same effective settings): not tested"
                    env_rows.append(_row(env, variant, measure.difference, estimate=0.0, n=xv.size, note=note))
                else:
                    env_rows += _effect_rows(env, variant, measure, xv, xd, rng, n_resamples, confidence)
        for measure in MEASURES:  # one family per measure: the column a reader scans for "which one matters"
            tests = [r for r in env_rows if r["metric"] == measure.improvement and r.get("test") == "mann_whitney_u"]
            for r, adjusted in zip(tests, holm([r["p_value"] for r in tests]), strict=True):
                r["p_value_holm"] = adjusted
        rows += env_rows
    out = pd.DataFrame(rows).reindex(columns=STATS_COLUMNS)
    for col in ("at", "estimate", "ci_low", "ci_high", "p_value", "p_value_holm"):
        out[col] = out[col].astype(float)
    for col in ("test", "note", "comparison"):
        out[col] = ["" if pd.isna(v) else str(v) for v in out[col]]
    out["n"] = out["n"].astype(int)
    return out


# --------------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnvAblations:
    """What the report says about one env: its compared variants and the facts behind the words."""

    env: str
    variants: list[str]  # compared with default, in report order
    lengths: dict[str, list[int]]  # variant (default included) -> k of every epoch
    identical: list[str]  # variants that ran but equal default by construction
    not_run: list[str]  # registry variants absent here
    not_run_identical: list[str]  # ... of which would equal default here
    diagnostics: dict[str, dict[str, float]]  # variant -> mean over seeds of each diagnostic


def env_ablations(env: str, facts: Sequence[RunFacts]) -> EnvAblations:
    """Sort the runs of ``env`` into the report's facts (variants in registry order)."""
    registry = list(variants_for("mbpo"))
    mine = [f for f in facts if f.key.env == env and f.key.algo == "mbpo"]
    ran = {f.key.variant for f in mine}
    if BASELINE not in ran:
        raise ValueError(f"{env}: no `default` runs to compare the ablations with")
    order = [v for v in registry if v in ran] + sorted(ran - set(registry))
    by_variant = {v: [f for f in mine if f.key.variant == v] for v in order}
    base = effective_setup(by_variant[BASELINE][0].config)
    identical = [v for v in order if v != BASELINE and effective_setup(by_variant[v][0].config) == base]
    not_run = [v for v in registry if v not in ran]
    registered = variants_for("mbpo")
    would_be = [
        v
        for v in not_run
        if effective_setup(with_overrides(by_variant[BASELINE][0].config, registered[v].overrides_for(env))) == base
    ]
    diagnostics = {
        v: {name: float(np.mean([f.diagnostics[name] for f in runs if name in f.diagnostics])) for name in _DIAGNOSTICS
            if any(name in f.diagnostics for f in runs)}
        for v, runs in by_variant.items()
    }  # fmt: skip
    return EnvAblations(
        env=env,
        variants=[v for v in order if v != BASELINE],
        lengths={v: rollout_lengths(runs[0].config) for v, runs in by_variant.items()},
        identical=identical,
        not_run=not_run,
        not_run_identical=would_be,
        diagnostics=diagnostics,
    )


def _stat(stats: pd.DataFrame, env: str, variant: str, metric: str) -> pd.Series | None:
    rows = stats[(stats["env"] == env) & (stats["variant"] == variant) & (stats["metric"] == metric)]
    return None if rows.empty else rows.iloc[0]


def _fmt(value: float, fmt=format_return) -> str:
    return fmt(value) if np.isfinite(value) else "n/a"


def _signed(value: float) -> str:
    return ("+" if value > 0 else "") + format_return(value) if np.isfinite(value) else "n/a"


def _fmt_p(p: float) -> str:
    if not np.isfinite(p):
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _what_it_did(d: Mapping[str, float]) -> str:
    """The run-log facts that show the ablation doing its job (means over refits and seeds)."""
    parts = []
    if "penalty_share" in d:
        parts.append(f"penalty removed {d['penalty_share']:.0%} of the model reward (mean u {d['uncertainty']:.3g})")
    if "precision" in d or "recall" in d:
        p, r = d.get("precision", np.nan), d.get("recall", np.nan)
        parts.append(f"classifier holdout precision {_fmt(p, '{:.2f}'.format)}, recall {_fmt(r, '{:.2f}'.format)}")
    if "alive" in d:
        parts.append(f"{d['alive']:.0%} of branches alive after k steps")
    return "; ".join(parts) or "n/a"


def _effect_cells(e: EnvAblations, stats: pd.DataFrame, variant: str, measure: Measure) -> list[str]:
    """IQM [CI], seeds, and the comparison with default: difference, P(improvement), Mann-Whitney p (Holm)."""
    iqm_row = _stat(stats, e.env, variant, measure.iqm)
    difference = _stat(stats, e.env, variant, measure.difference)
    improvement = _stat(stats, e.env, variant, measure.improvement)
    if variant == BASELINE:
        effect = ["", "", ""]
    elif variant in e.identical:
        effect = ["0 (identical by construction)", "", ""]
    else:
        test = "n/a"
        if improvement is not None and np.isfinite(improvement["p_value"]):
            test = f"{_fmt_p(improvement['p_value'])} ({_fmt_p(improvement['p_value_holm'])})"
        effect = [format_ci(difference, _signed), format_ci(improvement, "{:.2f}".format), test]
    return [format_ci(iqm_row), str(int(iqm_row["n"])) if iqm_row is not None else "0", *effect]


def _effect_header(conf: str) -> str:
    return (
        f"IQM [{conf} CI] | Seeds | IQM − default [{conf} CI] | P(variant > default) [{conf} CI] "
        "| Mann-Whitney p (Holm)"
    )


def _env_table(e: EnvAblations, stats: pd.DataFrame, conf: str) -> list[str]:
    lines = [
        f"| Variant | k per epoch | Final return: {_effect_header(conf)} | What the runs logged |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for variant in [BASELINE, *e.variants]:
        cells = [
            f"`{variant}`",
            describe_lengths(e.lengths[variant]),
            *_effect_cells(e, stats, variant, FINAL),
            _what_it_did(e.diagnostics.get(variant, {})),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _over_run_table(e: EnvAblations, stats: pd.DataFrame, conf: str) -> list[str]:
    lines = [f"| Variant | Mean return over the run: {_effect_header(conf)} |", "|---|---|---|---|---|---|"]
    for variant in [BASELINE, *e.variants]:
        lines.append("| " + " | ".join([f"`{variant}`", *_effect_cells(e, stats, variant, OVER_RUN)]) + " |")
    return lines


def reading(e: EnvAblations, stats: pd.DataFrame) -> str:
    """A few generated sentences: what is established at the Holm-adjusted 5% level, on which measure, what
    is not, and why."""
    name = our_env_id(e.env)
    better, worse, unclear, untested = [], [], [], []
    for variant in e.variants:
        if variant in e.identical:
            continue
        for measure in MEASURES:
            improvement = _stat(stats, e.env, variant, measure.improvement)
            difference = _stat(stats, e.env, variant, measure.difference)
            p = improvement["p_value_holm"] if improvement is not None else np.nan
            facts = (
                f"`{variant}` in {measure.label} (IQM {_signed(difference['estimate'])}, "
                f"P(improvement) {improvement['estimate']:.2f}" + (f", Holm p {_fmt_p(p)})" if np.isfinite(p) else ")")
            )
            if not np.isfinite(p):
                untested.append(facts)
            elif p < ALPHA:
                (better if improvement["estimate"] > 0.5 else worse).append(facts)
            else:
                unclear.append(facts)
    sentences = []
    if worse:
        sentences.append(f"Worse than `default` at the 5% level after Holm correction: {', '.join(worse)}.")
    if better:
        sentences.append(f"Better than `default` at the 5% level after Holm correction: {', '.join(better)}.")
    if unclear:
        sentences.append(
            f"No difference from `default` established: {', '.join(unclear)}; "
            "with this many seeds an effect of this size cannot be told from seed noise."
        )
    if untested:
        sentences.append(f"Point estimates only, untested (fewer than 2 seeds): {', '.join(untested)}.")
    if worse or better:
        sentences.insert(0, f"On {name}:")
    elif unclear:
        sentences.insert(0, f"On {name}, no ablation is established to matter at these seeds and budget.")
    elif untested:
        sentences.insert(0, f"On {name}, nothing can be established with fewer than 2 seeds per group.")
    same = [f"`{v}`" for v in e.identical]
    if same:
        k = describe_lengths(e.lengths[BASELINE])
        sentences.append(
            f"{' and '.join(same)} {'is' if len(same) == 1 else 'are'} `default` itself here (k = {k} at every epoch): "
            "the same runs by construction, not a finding."
        )
        base_iqm = _stat(stats, e.env, BASELINE, "iqm_return")
        differ = [
            v
            for v in e.identical
            if (row := _stat(stats, e.env, v, "iqm_return")) is not None
            and base_iqm is not None
            and row["estimate"] != base_iqm["estimate"]
        ]
        if differ:
            sentences.append(
                f"Yet the returns of {', '.join(f'`{v}`' for v in differ)} differ from `default`'s: only "
                "nondeterminism (e.g. GPU kernels, or runs on different machines) explains that."
            )
    k_default, k_max = e.lengths[BASELINE], e.lengths.get("fixed-kmax")
    if k_max and k_default and max(k_max) > max(k_default):
        sentences.append(
            f"`default`'s schedule reaches only k = {max(k_default)} within this budget; `fixed-kmax` rolls "
            f"k = {max(k_max)} from the first epoch."
        )
    return " ".join(sentences)


def render_ablations(
    envs: Sequence[EnvAblations],
    stats: pd.DataFrame,
    summary: pd.DataFrame,
    *,
    name: str,
    config_files: Sequence[str],
    confidence: float,
    final_window: int,
    stats_path: str,
    figures: Mapping[str, str],
) -> str:
    """The whole ``ablations.md`` (ends with a newline). ``figures``: caption -> path relative to the report."""
    conf = f"{confidence:.0%}"
    registry = variants_for("mbpo")
    shown = list(dict.fromkeys(v for e in envs for v in e.variants))
    seeds = summary.groupby(["env", "variant"])["seed"].nunique()
    seed_text = f"{seeds.min()}" if seeds.min() == seeds.max() else f"{seeds.min()} to {seeds.max()}"
    trims = sorted({iqm_trimmed(int(n)) for n in seeds})
    trim_text = (
        "below 4 seeds it trims none: the mean"
        if trims == [0]
        else f"trimming {', '.join(map(str, trims))} seed(s) at each end"
    )
    out = [
        "# Which of MBPO's parts matter: ablations on MuJoCo v5",
        "",
        f"Produced by `snakemake` from {' + '.join(f'`{f}`' for f in config_files)} (protocol `{name}`): "
        f"{len(summary)} MBPO runs, {seed_text} seeds per env and variant. Each ablation changes one thing about "
        "how rollouts use the model and is compared with MBPO's `default` in the same env, at the same "
        f"env-step budget, on two numbers per run: its **final return** (the mean of its last {final_window} "
        "evaluations after the warm-up: where it ends) and its **mean return over the run** (the mean of every "
        "evaluation after the warm-up, up to the budget: how soon it got there, the area under its learning "
        "curve over its length). Where every variant masters the task within the budget, final returns tie "
        "and only the second tells them apart.",
        "",
        f"**Statistics**: IQM = interquartile mean over seeds ({trim_text}). Intervals are {conf} "
        "percentile-bootstrap CIs over seeds (two-sample, resampling each group, "
        "for the differences). P(variant > default): the probability that a random run of the variant beats a "
        "random `default` run (ties count half); its two-sided Mann-Whitney p-value is Holm-adjusted across the "
        "variants compared in that env, separately for each measure (in parentheses). Every estimate, with its "
        f"note: `{stats_path}`.",
        "",
        "## The variants",
        "",
        "| Variant | What it changes | Config keys it sets |",
        "|---|---|---|",
    ]
    for variant in [BASELINE, *shown]:
        v = registry.get(variant)
        keys = ", ".join(f"`{k}`" for k in _flat_keys(v.overrides_for(envs[0].env))) if v else ""
        doc = v.doc.replace("|", r"\|") if v else "not in the registry"  # a pipe would end the cell
        out.append(f"| `{variant}` | {doc} | {keys or '(none)'} |")
    out.append("")
    for e in envs:
        out += [f"## {our_env_id(e.env)}", "", *_env_table(e, stats, conf), "", *_over_run_table(e, stats, conf), ""]
        if e.not_run:
            line = f"Not run on {our_env_id(e.env)}: {', '.join(f'`{v}`' for v in e.not_run)}."
            if e.not_run_identical:
                k = describe_lengths(e.lengths[BASELINE])
                line += (
                    f" Of these, {' and '.join(f'`{v}`' for v in e.not_run_identical)} would be `default` itself "
                    f"here (k = {k} at every epoch)."
                )
            out += [line, ""]
        out += [f"**Reading.** {reading(e, stats)}", ""]
    for caption, path in figures.items():
        out += [f"![{caption}]({path})", "", f"*{caption}*", ""]
    return "\n".join(out)


def _flat_keys(overrides: Mapping[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for key, value in overrides.items():
        keys += _flat_keys(value, f"{prefix}{key}.") if isinstance(value, Mapping) else [f"{prefix}{key}"]
    return keys


__all__ = [
    "EnvAblations",
    "RunFacts",
    "ablation_stats",
    "describe_lengths",
    "effective_setup",
    "env_ablations",
    "read_run_facts",
    "reading",
    "render_ablations",
    "with_overrides",
]
