"""The ablation report on synthetic run directories with known effects: the statistics against hand values,
variants that equal default by construction, variants missing from the config, the generated reading, and
the `mbpo ablations` command end to end (deterministic bytes, figures written)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import yaml

from mbpo.analysis.ablations import (
    ablation_stats,
    describe_lengths,
    effective_setup,
    env_ablations,
    read_run_facts,
    reading,
)
from mbpo.analysis.estimators import holm
from mbpo.analysis.runs import aggregate
from mbpo.cli import main
from mbpo.config import resolve
from mbpo.variants import variants_for

SEEDS = range(5)
# Final-return levels per (env, variant): no-termination is far worse on Hopper, penalty no different.
LEVEL = {"default": 1000.0, "penalty": 1010.0, "no-termination": 400.0, "fixed-k1": 990.0, "fixed-kmax": 1005.0}
HOPPER = ["default", "penalty", "no-termination", "fixed-k1", "fixed-kmax"]
WALKER = ["default", "penalty", "fixed-k1"]  # fixed-k1 is default itself there; the others are not run


def write_run(root: Path, env: str, variant: str, seed: int) -> Path:
    """A finished MBPO run directory as `mbpo train` would leave it (config.yaml resolved for the variant)."""
    layers = {"env": env, "steps": 3000, "init_exploration_steps": 500, "epoch_length": 250, "eval_every": 250}
    if env == "hopper":
        layers["rollout_schedule"] = [1, 5, 1, 3]  # k grows 1 -> 3 within the budget
    base = resolve(layers).to_dict()  # walker2d keeps its preset: k = 1 at every epoch
    overrides = variants_for("mbpo")[variant].overrides_for(env)
    config = {**base, **overrides, "variant": variant, "seed": seed}
    run = root / env / "mbpo" / variant / f"seed{seed}"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    same = env == "walker2d" and variant == "fixed-k1"  # default itself there: the same numbers, as in real runs
    rng = np.random.default_rng([seed, len("default" if same else variant), len(env)])
    steps = np.arange(250, 3001, 250)
    level = LEVEL[variant] if env == "hopper" else 800.0
    returns = level * steps / 3000 + rng.normal(0, 20, steps.size)
    frame = pd.DataFrame({"env_step": steps, "eval_return_mean": returns, "rollout/alive_fraction": 0.9})
    if variant.startswith("penalty"):
        frame["rollout/uncertainty"], frame["rollout/penalty_share"] = 0.2, 0.05
    frame.to_csv(run / "metrics.csv", index=False)
    return run


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("ablation-runs")
    return [
        write_run(root, env, v, s) for env, vs in (("hopper", HOPPER), ("walker2d", WALKER)) for v in vs for s in SEEDS
    ]


@pytest.fixture(scope="module")
def analysed(runs):
    curves, summary = aggregate([r / "metrics.csv" for r in runs], final_window=2)
    facts = [read_run_facts(r) for r in runs]
    envs = [env_ablations(env, facts) for env in ("hopper", "walker2d")]
    stats = ablation_stats(
        summary,
        curves,
        {e.env: e.variants for e in envs},
        {(e.env, v) for e in envs for v in e.identical},
        np.random.default_rng(0),
        n_resamples=500,
    )
    return summary, envs, stats


def test_variants_in_registry_order_and_the_ones_equal_to_default(analysed) -> None:
    _, (hopper, walker), _ = analysed
    assert hopper.variants == ["penalty", "no-termination", "fixed-k1", "fixed-kmax"]
    assert hopper.identical == [] and walker.identical == ["fixed-k1"]
    assert describe_lengths(hopper.lengths["default"]) == "1 → 3"
    assert hopper.lengths["fixed-kmax"] == [3] * 10 and hopper.lengths["fixed-k1"] == [1] * 10
    # Not run on Walker2d; of those, fixed-kmax would be default there too (k = 1 at every epoch).
    assert walker.not_run == ["penalty-0.5", "penalty-2", "learned-termination", "no-termination", "fixed-kmax"]
    assert walker.not_run_identical == ["fixed-kmax"]
    assert hopper.diagnostics["penalty"] == pytest.approx({"alive": 0.9, "uncertainty": 0.2, "penalty_share": 0.05})


def test_the_effect_rows_match_hand_computed_values(analysed) -> None:
    summary, _, stats = analysed
    s = summary[summary["env"] == "hopper"]
    finals = {v: g.sort_values("seed")["final_return"].to_numpy() for v, g in s.groupby("variant")}
    hopper = stats[stats["env"] == "hopper"]
    row = hopper[(hopper["variant"] == "no-termination") & (hopper["metric"] == "iqm_difference")].iloc[0]
    expected = scipy.stats.trim_mean(finals["no-termination"], 0.25) - scipy.stats.trim_mean(finals["default"], 0.25)
    assert row["estimate"] == pytest.approx(expected) and row["ci_low"] < expected < row["ci_high"] < 0
    tests = hopper[hopper["metric"] == "prob_improvement"].set_index("variant")
    assert tests.loc["no-termination", "estimate"] == 0.0  # every no-termination run is below every default run
    p = [scipy.stats.mannwhitneyu(finals[v], finals["default"]).pvalue for v in tests.index]
    np.testing.assert_allclose(tests["p_value"], p)
    np.testing.assert_allclose(tests["p_value_holm"], holm(p))  # the family: this env's tested variants


def test_the_mean_return_over_the_run_is_each_runs_mean_after_the_warm_up(analysed, runs) -> None:
    """By hand from the metrics.csv files: every evaluation counts (the synthetic runs log no warm-up)."""
    _, _, stats = analysed
    hopper = stats[stats["env"] == "hopper"]

    def run_means(variant: str) -> np.ndarray:
        dirs = [r for r in runs if r.parts[-4] == "hopper" and r.parent.name == variant]  # seed order
        return np.array([pd.read_csv(r / "metrics.csv")["eval_return_mean"].mean() for r in dirs])

    means = {v: run_means(v) for v in ("default", "no-termination")}
    iqm = hopper[(hopper["variant"] == "default") & (hopper["metric"] == "iqm_run_return")].iloc[0]
    assert iqm["estimate"] == pytest.approx(scipy.stats.trim_mean(means["default"], 0.25))
    diff = hopper[(hopper["variant"] == "no-termination") & (hopper["metric"] == "run_return_iqm_difference")]
    expected = scipy.stats.trim_mean(means["no-termination"], 0.25) - scipy.stats.trim_mean(means["default"], 0.25)
    assert diff.iloc[0]["estimate"] == pytest.approx(expected)
    tests = hopper[hopper["metric"] == "run_return_prob_improvement"].set_index("variant")
    np.testing.assert_allclose(tests["p_value_holm"], holm(list(tests["p_value"])))  # its own family


def test_runs_that_tie_at_the_ceiling_are_told_apart_by_how_soon_they_got_there(tmp_path: Path) -> None:
    """InvertedPendulum's case: every run ends at 1000; the variant's runs get there 1000 env steps later."""
    paths = []
    for variant, reach in (("default", 1000), ("penalty", 2000)):
        for seed in SEEDS:
            run = write_run(tmp_path, "hopper", variant, seed)
            steps = np.arange(250, 3001, 250)
            returns = np.where(steps >= reach + 50 * seed, 1000.0, 100.0 + seed)
            pd.DataFrame({"env_step": steps, "eval_return_mean": returns}).to_csv(run / "metrics.csv", index=False)
            paths.append(run)
    curves, summary = aggregate([r / "metrics.csv" for r in paths], final_window=2)
    stats = ablation_stats(summary, curves, {"hopper": ["penalty"]}, set(), np.random.default_rng(0), n_resamples=200)
    final = stats[stats["metric"] == "prob_improvement"].iloc[0]
    over_run = stats[stats["metric"] == "run_return_prob_improvement"].iloc[0]
    assert final["estimate"] == 0.5 and final["p_value"] == pytest.approx(1.0)
    assert over_run["estimate"] == 0.0 and over_run["p_value_holm"] < 0.05


def test_a_variant_equal_to_default_is_reported_but_not_tested(analysed) -> None:
    _, _, stats = analysed
    walker = stats[(stats["env"] == "walker2d") & (stats["variant"] == "fixed-k1")]
    no_tests = {"iqm_return", "iqm_run_return", "iqm_curve", "iqm_difference", "run_return_iqm_difference"}
    assert set(walker["metric"]) == no_tests  # no test row
    assert "identical to default by construction" in walker.loc[walker["metric"] == "iqm_difference", "note"].iloc[0]
    tested = stats[(stats["env"] == "walker2d") & (stats["metric"] == "prob_improvement")]
    assert list(tested["variant"]) == ["penalty"] and tested["p_value_holm"].iloc[0] == tested["p_value"].iloc[0]


def test_variants_missing_from_the_config_are_absent_not_zero(analysed) -> None:
    _, _, stats = analysed
    walker = stats[stats["env"] == "walker2d"]
    assert set(walker["variant"]) == {"default", "penalty", "fixed-k1"}


def test_the_reading_names_what_is_established_and_what_is_not(analysed) -> None:
    _, (hopper, walker), stats = analysed
    text = reading(hopper, stats)
    assert text.startswith("On Hopper-v5:") and "Worse than `default`" in text
    assert "`no-termination` in final return (IQM -" in text
    assert "`no-termination` in mean return over the run (IQM -" in text
    assert "No difference from `default` established: `penalty` in final return" in text
    text = reading(walker, stats)
    assert "no ablation is established to matter" in text
    assert "`fixed-k1` is `default` itself here (k = 1 at every epoch)" in text
    assert "nondeterminism" not in text  # its runs have default's numbers


def test_the_effective_setup_ignores_identity_and_schedule_spelling() -> None:
    a = resolve({"env": "walker2d"}).to_dict()
    b = {**a, "variant": "fixed-k1", "seed": 3, "rollout_fixed_length": 1, "device": "cpu"}
    assert effective_setup(a) == effective_setup(b)
    assert effective_setup({**a, "rollout_fixed_length": 2}) != effective_setup(a)


def test_the_command_writes_the_report_figures_and_csvs_deterministically(runs, tmp_path) -> None:
    def run(out: Path) -> dict[str, bytes]:
        main([
            "ablations", *map(str, runs), "--envs", "hopper", "walker2d", "--final-window", "2",
            "--out", str(out / "reports/ablations.md"), "--stats", str(out / "results/stats.csv"),
            "--summary", str(out / "results/summary.csv"), "--curves", str(out / "results/curves.csv"),
            "--figures-dir", str(out / "reports/figures"), "--resamples", "300", "--name", "test",
        ])  # fmt: skip
        return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}

    first, second = run(tmp_path), run(tmp_path)
    assert first == second
    assert set(first) == {
        "reports/ablations.md",
        "reports/figures/ablations_curves.png",
        "reports/figures/ablations_effects.png",
        "results/stats.csv",
        "results/summary.csv",
        "results/curves.csv",
    }
    text = first["reports/ablations.md"].decode()
    assert "## Hopper-v5" in text and "## Walker2d-v5" in text
    assert "![IQM evaluation return over seeds" in text and "(figures/ablations_curves.png)" in text
    assert "| `fixed-k1` | 1 | " in text and "0 (identical by construction)" in text
    assert "Not run on Walker2d-v5: `penalty-0.5`" in text
