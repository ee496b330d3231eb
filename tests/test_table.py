"""Reference curves read at our steps, and the table and figures built from synthetic runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mbpo.analysis.figures import figure_names, write_figures
from mbpo.analysis.html import markdown_to_html, write_run_pages
from mbpo.analysis.reference import (
    ENV_NAMES,
    SOURCES,
    format_return,
    format_steps,
    interpolate_seeds,
    load_reference,
    mean_curve,
    reference_path,
    reference_value,
)
from mbpo.analysis.runinfo import RUN_COLUMNS
from mbpo.analysis.stats import NOT_ESTABLISHED, compare
from mbpo.analysis.table import DESIGN_NOTES_1M, render_table

ENVS = ["hopper", "walker2d", "halfcheetah", "ant"]


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return load_reference()


def toy_reference() -> pd.DataFrame:
    """Two seeds of one source: seed 0 goes 0 -> 10, seed 1 goes 10 -> 30, over env steps 0 -> 10."""
    return pd.DataFrame(
        {
            "source": "tianshou/sac",
            "algo": "sac",
            "env": "hopper",
            "env_version": "v3",
            "seed": [0, 0, 1, 1],
            "env_step": [0, 10, 0, 10],
            "return": [0.0, 10.0, 10.0, 30.0],
        }
    )


def test_packaged_reference_is_complete(reference: pd.DataFrame) -> None:
    assert reference_path("README.md").is_file()
    raw = pd.read_csv(reference_path())
    assert len(reference) == len(raw) == 25_801
    assert set(reference["env"]) == set(ENV_NAMES.values())
    assert set(reference["source"]) == set(SOURCES)
    assert set(reference["algo"]) == {"mbpo", "sac"}


def test_interpolation_matches_hand_computation() -> None:
    ref = toy_reference()
    per_seed = interpolate_seeds(ref, "tianshou/sac", "hopper", np.array([5.0, 10.0, 12.0, -1.0]))
    np.testing.assert_allclose(per_seed[:, :2], [[5.0, 10.0], [20.0, 30.0]])
    assert np.isnan(per_seed[:, 2:]).all()  # beyond either end: never extrapolated

    at_5 = reference_value(ref, "tianshou/sac", "hopper", [5.0])
    assert (at_5.mean, at_5.low, at_5.high, at_5.n_seeds) == (12.5, 5.0, 20.0, 2)
    window = reference_value(ref, "tianshou/sac", "hopper", [5.0, 10.0])  # per seed 7.5 and 25
    assert (window.mean, window.low, window.high) == (16.25, 7.5, 25.0)
    beyond = reference_value(ref, "tianshou/sac", "hopper", [5.0, 11.0])
    assert not beyond.available and beyond.label() == "SAC, Tianshou, Hopper-v3: n/a @11"
    assert reference_value(ref, "tianshou/sac", "ant", [5.0]) is None


def test_interpolation_on_the_real_data_by_hand(reference: pd.DataFrame) -> None:
    raw = pd.read_csv(reference_path())
    rows = raw[(raw["source"] == "tianshou/sac") & (raw["env"] == "Hopper")]
    at = rows[rows["env_step"].isin([5000, 10000])].groupby("env_step")["return"].mean()
    value = reference_value(reference, "tianshou/sac", "hopper", [7500])
    assert value.mean == pytest.approx((at[5000] + at[10000]) / 2)
    assert value.env_id == "Hopper-v3"


def test_official_mbpo_label_uses_the_mean_of_the_pseudo_seeds(reference: pd.DataFrame) -> None:
    value = reference_value(reference, "erl_lib/mbpo_pseudoseeds", "hopper", [50_000])
    raw = pd.read_csv(reference_path())
    rows = raw[(raw["source"] == "erl_lib/mbpo_pseudoseeds") & (raw["env"] == "Hopper")]
    middle = rows[rows["seed"] == 2].sort_values("env_step")  # the pseudo-seeds are symmetric about seed 2
    assert value.mean == pytest.approx(np.interp(50_000, middle["env_step"], middle["return"]))
    assert value.label() == f"MBPO, official Fig. 2, Hopper-v2: {value.mean:,.0f} @50k"
    assert value.source.band == "±1 std, inferred"
    ant = reference_value(reference, "erl_lib/mbpo_pseudoseeds", "ant", [50_000])
    assert ant.env_id == "AntTruncatedObs-v2"
    early = reference_value(reference, "erl_lib/mbpo_pseudoseeds", "hopper", [2000])
    assert not early.available  # the official curve starts near 6k steps


def test_mean_curve_averages_the_seeds() -> None:
    curve = mean_curve(toy_reference(), "tianshou/sac", "hopper")
    assert curve["return"].tolist() == [5.0, 20.0]


def synthetic_results(variants: tuple[str, ...] = ("default",)) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tidy curves and a summary for 4 envs x MBPO(+variants)/SAC x 5 seeds, evaluated every 10k steps."""
    rng = np.random.default_rng(0)
    budgets = {"hopper": 120_000, "walker2d": 300_000, "halfcheetah": 400_000, "ant": 300_000}
    curves, summary = [], []
    groups = [("mbpo", v) for v in variants] + [("sac", "default")]
    for env, budget in budgets.items():
        steps = np.arange(10_000, budget + 1, 10_000)
        for algo, variant in groups:
            for seed in range(5):
                scale = (3000 if algo == "mbpo" else 1500) * rng.uniform(0.8, 1.2)
                returns = scale * (1 - np.exp(-steps / (budget / 3)))
                curves += [(env, algo, variant, seed, int(s), float(r)) for s, r in zip(steps, returns, strict=True)]
                final = float(returns[-2:].mean())
                summary.append((env, algo, variant, seed, final, budget, steps.size, budget, int(steps[-2])))
    curves = pd.DataFrame(curves, columns=["env", "algo", "variant", "seed", "env_step", "return"])
    summary = pd.DataFrame(
        summary,
        columns=[
            "env", "algo", "variant", "seed", "final_return", "steps", "n_evals", "target_steps",
            "window_start_step",
        ],
    )  # fmt: skip
    return curves, summary


def synthetic_runs(summary: pd.DataFrame, **config) -> pd.DataFrame:
    """runs.csv for the synthetic runs: MBPO runs take 3 h (60% SAC updates, 30% model fitting), SAC runs 1 h."""
    rows = []
    for r in summary.itertuples(index=False):
        hours = 3.0 if r.algo == "mbpo" else 1.0
        split = {"policy": 0.6, "model": 0.3 if r.algo == "mbpo" else 0.0, "rollout": 0.0, "env": 0.05, "eval": 0.05}
        split["other"] = 1.0 - sum(split.values())
        rows.append(
            {
                "env": r.env, "algo": r.algo, "variant": r.variant, "seed": r.seed, "gym_id": ENV_IDS[r.env],
                "env_dynamics": "v5", "steps": r.steps, "init_exploration_steps": 5000, "eval_every": 10_000,
                "eval_episodes": 5, "num_train_repeat": 20 if r.algo == "mbpo" else 1, "wall_time_s": hours * 3600,
                **{f"time_{p}_s": share * hours * 3600 for p, share in split.items()},
                "warmup_evals": 0, "machine": "AMD EPYC 7B13, 2 cores, 1 thread, no GPU", "gpu": "",
                "hostname": "node7", "commit": "abc", "dirty": False, "started": "", "finished": "",
                "resumes": 0, "command": "mbpo train",
            } | config
        )  # fmt: skip
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


ENV_IDS = {"hopper": "Hopper-v5", "walker2d": "Walker2d-v5", "halfcheetah": "HalfCheetah-v5", "ant": "Ant-v5"}


def render(variants: tuple[str, ...] = ("default",), runs: bool = True, **config) -> tuple[str, pd.DataFrame]:
    curves, summary = synthetic_results(variants)
    stats = compare(summary, curves, np.random.default_rng(0), n_resamples=200)
    text = render_table(
        summary,
        stats,
        curves,
        synthetic_runs(summary, **config) if runs else None,
        envs=ENVS,
        config_files=["config/config.yaml"],
        name="paper",
        final_window=2,
    )
    return text, stats


def test_table_has_a_row_per_env_and_labelled_references() -> None:
    text, stats = render()
    assert text == render()[0]  # no dates, no unseeded randomness
    assert "`config/config.yaml` (protocol `paper`)" in text
    assert "5 seeds per env and algorithm, 40 runs" in text

    main = text.split("## Our runs")[1].split("\n\n")[1].splitlines()
    assert [line.split(" | ")[0] for line in main[2:]] == [
        "| Hopper-v5",
        "| Walker2d-v5",
        "| HalfCheetah-v5",
        "| Ant-v5",
        "| **All envs**",
    ]
    hopper = main[2]
    iqm = stats.query("env == 'hopper' and algo == 'mbpo' and metric == 'iqm_return'").iloc[0]
    assert f"{iqm['estimate']:,.0f} [{iqm['ci_low']:,.0f}, {iqm['ci_high']:,.0f}]" in hopper
    assert "| 120k |" in hopper and "| 5/5 |" in hopper

    for label in ("MBPO, official Fig. 2", "SAC, Tianshou", "SAC, erl_lib", "MBPO, x35f PyTorch"):
        assert label in text
    for env_id in ("Hopper-v2", "Hopper-v3", "Hopper-v4", "AntTruncatedObs-v2"):
        assert env_id in text
    reading = text.split("### Reading")[1].split("\n## ")[0]
    assert sum(line.startswith("- **") for line in reading.splitlines()) == 4
    assert "inside" in reading or "below" in reading or "above" in reading

    notes = text.split("## The design notes' numbers (not ours)")[1]
    for mbpo, sac, _ in DESIGN_NOTES_1M.values():
        assert f"| {mbpo:,} | {sac:,} |" in notes
    assert "## MBPO variants" not in text


def test_variants_get_their_own_section() -> None:
    text, _ = render(("default", "penalty"))
    assert "Baseline: SAC's `default` variant. Other variants, each compared with it: MBPO `penalty`." in text
    section = text.split("## MBPO variants")[1].split("\n## ")[0]
    assert sum("| `penalty` |" in line for line in section.splitlines()) == 4


def test_header_facts_come_from_the_runs_configs() -> None:
    text, _ = render(env_dynamics="paper", eval_episodes=10)
    header = text.split("## Our runs")[0]
    assert "Hopper-v5, Walker2d-v5, HalfCheetah-v5, Ant-v5" in header
    assert "`paper` (v5 with the paper's (v2) dynamics restored)" in header
    assert "every 10,000 env steps, 10 episode(s) of the deterministic policy" in header
    assert "the first 5,000 env steps" in header and "last 2 evaluations" in header
    assert "with 5 seeds it trims 1 at each end (the mean of the middle 3)" in header
    unrecorded, _ = render(runs=False)
    assert "not recorded here (no `runs.csv` given)" in unrecorded and "## Compute" not in unrecorded


def test_main_table_names_each_estimate_and_its_test() -> None:
    text, stats = render()
    main = text.split("## Our runs")[1].split("\n\n")[1].splitlines()
    header = main[0]
    for column in ("Sample efficiency [95% CI]", "P(MBPO > SAC) [95% CI]", "Mann-Whitney p (Holm)", "Welch p (Holm)"):
        assert column in header
    hopper = stats.query("env == 'hopper' and metric == 'sample_efficiency'").iloc[0]
    efficiency = f"{hopper['estimate']:.2f}x [{hopper['ci_low']:.2f}, {hopper['ci_high']:.2f}]"
    assert efficiency in main[2]
    assert f"- Hopper-v5: {hopper['note']}." in text  # the threshold and steps behind it
    overall = stats.query("env == 'all' and metric == 'iqm_ratio'").iloc[0]
    assert f"{overall['estimate']:.2f} [{overall['ci_low']:.2f}, {overall['ci_high']:.2f}]" in main[-1]


def test_sample_efficiency_cells_say_not_established() -> None:
    curves, summary = synthetic_results()
    stats = compare(summary, curves, np.random.default_rng(0), n_resamples=200)
    row = (stats["env"] == "hopper") & (stats["metric"] == "sample_efficiency")
    stats.loc[row, ["estimate", "ci_low", "ci_high", "note"]] = [0.8, 0.5, 1.1, "not established (x)"]
    text = render_table(summary, stats, curves, envs=ENVS, config_files=["c.yaml"], name="p", final_window=2)
    assert f"| {NOT_ESTABLISHED}: 0.80x [0.50, 1.10] |" in text
    assert "**Budgets**" not in text  # equal budgets: nothing to explain


def test_unequal_budgets_are_given_per_algorithm_and_explained() -> None:
    curves, summary = synthetic_results()
    longer = summary["algo"] == "sac"
    summary.loc[longer, "steps"] = summary.loc[longer, "steps"] * 3
    stats = compare(summary, curves, np.random.default_rng(0), n_resamples=200)
    text = render_table(summary, stats, curves, envs=ENVS, config_files=["c.yaml"], name="p", final_window=2)
    mbpo, sac = (int(summary.loc[summary["algo"] == a, "steps"].max()) for a in ("mbpo", "sac"))
    assert f"| {format_steps(mbpo)} / {format_steps(sac)} |" in text  # MBPO's budget first
    # SAC's IQM also at MBPO's budget, where the ratio compares them.
    hopper = int(summary.query("env == 'hopper' and algo == 'mbpo'")["steps"].max())
    at = stats.query("env == 'hopper' and metric == 'baseline_iqm_return_compared'").iloc[0]
    assert at["at"] == hopper
    low, estimate, high = (format_return(at[c]) for c in ("ci_low", "estimate", "ci_high"))
    assert f"; @{format_steps(hopper)}: {estimate} [{low}, {high}] |" in text
    assert text.count("; @") == len(ENVS)  # only on the longer-trained side
    assert "**Budgets**: *Steps* gives MBPO's / SAC's budget" in text


def test_compute_table_gives_hours_and_their_split() -> None:
    text, _ = render()
    compute = text.split("## Compute")[1].split("\n## ")[0]
    rows = [line for line in compute.splitlines() if line.startswith("| Hopper-v5")]
    assert rows == [
        "| Hopper-v5 | MBPO | 5 | 3.00 h (3.00 h-3.00 h) | 60% | 30% | 0% | 5% | 5% | 0% "
        "| AMD EPYC 7B13, 2 cores, 1 thread, no GPU |",
        "| Hopper-v5 | SAC | 5 | 1.00 h (1.00 h-1.00 h) | 60% | 0% | 0% | 5% | 5% | 30% "
        "| AMD EPYC 7B13, 2 cores, 1 thread, no GPU |",
    ]


def test_markdown_to_html_renders_the_table_subset() -> None:
    html = markdown_to_html(
        "# Title\n\nSome **bold** and *not established* with `time/*_s` & <tag>.\n\n"
        "| A | B |\n|---|---|\n| 1 | `x` |\n\n- one\n- two\n"
    )
    assert "<h1>Title</h1>" in html
    assert (
        "<p>Some <strong>bold</strong> and <em>not established</em> with <code>time/*_s</code> &amp; &lt;tag&gt;.</p>"
        in html
    )
    assert "<thead><tr><th>A</th><th>B</th></tr></thead>" in html and "<td><code>x</code></td>" in html
    assert "<ul>\n<li>one</li>\n<li>two</li>\n</ul>" in html
    text, _ = render()
    page = markdown_to_html(text)
    assert page.count("<table>") == text.count("\n|---") and "\n|" not in page  # every pipe table converted


def test_run_pages_show_provenance_or_say_it_is_unknown(tmp_path: Path) -> None:
    """Each page comes from its run's own files, so an ablation run (not in the main table's runs.csv) has
    one, and only its own phases: the classifier fits of `learned-termination` appear on its page alone."""
    dirs = []
    for variant in ("default", "learned-termination"):
        run_dir = tmp_path / "runs" / "hopper" / "mbpo" / variant / "seed0"
        run_dir.mkdir(parents=True)
        (run_dir / "config.yaml").write_text(f"env: hopper\nalgo: mbpo\nvariant: {variant}\nseed: 0\nsteps: 2000\n")
        metrics = pd.DataFrame(
            {"env_step": [1000, 2000], "eval_return_mean": [100.0, 200.0], "wall_time_s": [3600.0, 10800.0],
             "eval/warmup": [0, 0], "time/policy_s": [1800.0, 5400.0], "time/model_s": [900.0, 2700.0]}
        )  # fmt: skip
        if variant == "learned-termination":  # its classifier's fits: a phase of this variant alone
            metrics["time/termination_s"] = [60.0, None]
        metrics.to_csv(run_dir / "metrics.csv", index=False)
        dirs.append(run_dir)
    (dirs[0] / "provenance.yaml").write_text(
        "command: [mbpo, train, --env, hopper]\nstarted: '2026-11-26T10:00:00+00:00'\nfinished: null\n"
        "git: {commit: abc123, dirty: true, changed: [reports/cpu/STATUS.md]}\n"
        "packages: {torch: 2.13.0}\nmachine: {cpu: EPYC, gpu: null}\n"
    )
    paths = write_run_pages(dirs, tmp_path / "pages")
    assert [p.relative_to(tmp_path / "pages").as_posix() for p in paths] == [
        "hopper/mbpo/default/seed0.html",
        "hopper/mbpo/learned-termination/seed0.html",
    ]
    known, unknown = (p.read_text() for p in paths)
    for fact in (
        "mbpo train --env hopper",
        "abc123",
        "reports/cpu/STATUS.md",
        "EPYC",
        "2.13.0",
        "3.000 h",
        "SAC updates</th><td>2.000 h (7,200.0 s) 67%",
        "model fitting</th><td>1.000 h (3,600.0 s) 33%",
        "env: hopper",
    ):
        assert fact in known
    assert "not recorded (still running, or stopped)" in known and "termination" not in known
    assert "Provenance unknown" in unknown and "env: hopper" in unknown
    assert "<th>termination</th><td>0.017 h (60.0 s) 1%" in unknown


def test_figures_are_written(tmp_path: Path) -> None:
    curves, summary = synthetic_results()
    keep = summary["env"].isin(["hopper", "ant"])
    curves, summary = curves[curves["env"].isin(["hopper", "ant"])], summary[keep]
    curves = curves.assign(wall_time_s=curves["env_step"] / 10.0, warmup=(curves["env_step"] <= 10_000).astype(int))
    stats = compare(summary, curves, np.random.default_rng(0), n_resamples=200)
    runs = synthetic_runs(summary)
    paths = write_figures(curves, summary, stats, runs, tmp_path / "figures", envs=["hopper", "ant"])
    assert [p.name for p in paths] == figure_names(["hopper", "ant"])
    assert {"curves_hopper.png", "performance_profile.png", "sample_efficiency.png", "compute.png"} <= {
        p.name for p in paths
    }
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Without runs.csv: no compute figure; those that do not read it come out byte for byte (no timestamps).
    again = write_figures(curves, summary, stats, None, tmp_path / "again", envs=["hopper", "ant"])
    assert [p.name for p in again] == figure_names(["hopper", "ant"], with_compute=False)
    for name in ("final_scores.png", "prob_improvement.png", "sample_efficiency.png", "performance_profile.png"):
        assert (tmp_path / "figures" / name).read_bytes() == (tmp_path / "again" / name).read_bytes()


def test_a_setting_that_differs_by_env_is_given_per_env_and_by_group_only_where_an_env_mixes() -> None:
    from mbpo.analysis.table import _distinct

    runs = pd.DataFrame(
        [("InvertedPendulum-v5", "mbpo", "default", 250), ("InvertedPendulum-v5", "sac", "default", 250),
         ("Hopper-v5", "mbpo", "default", 1000), ("Hopper-v5", "sac", "default", 1000)],
        columns=["gym_id", "algo", "variant", "eval_every"],
    )  # fmt: skip
    steps = lambda x: f"{int(x):,}"  # noqa: E731
    assert _distinct(runs, "eval_every", steps) == "250 (InvertedPendulum-v5), 1,000 (Hopper-v5)"
    runs.loc[3, "eval_every"] = 250
    assert _distinct(runs, "eval_every", steps) == (
        "250 (InvertedPendulum-v5 MBPO, InvertedPendulum-v5 SAC, Hopper-v5 SAC), 1,000 (Hopper-v5 MBPO)"
    )
    assert _distinct(runs.assign(eval_every=500), "eval_every", steps) == "500"
    assert _distinct(runs.assign(eval_every=None), "eval_every", steps) == "not recorded"
