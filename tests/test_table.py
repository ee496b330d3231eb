"""Reference curves read at our steps, and the table and figures built from synthetic runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mbpo.analysis.figures import write_figures
from mbpo.analysis.reference import (
    ENV_NAMES,
    SOURCES,
    interpolate_seeds,
    load_reference,
    mean_curve,
    reference_path,
    reference_value,
)
from mbpo.analysis.stats import compare
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


def render(variants: tuple[str, ...] = ("default",)) -> tuple[str, pd.DataFrame]:
    curves, summary = synthetic_results(variants)
    stats = compare(summary, curves, np.random.default_rng(0), n_resamples=200)
    text = render_table(
        summary,
        stats,
        curves,
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
    section = text.split("## MBPO variants")[1].split("\n## ")[0]
    assert sum("| `penalty` |" in line for line in section.splitlines()) == 4


def test_figures_are_written(tmp_path: Path) -> None:
    curves, summary = synthetic_results()
    keep = summary["env"].isin(["hopper", "ant"])
    curves, summary = curves[curves["env"].isin(["hopper", "ant"])], summary[keep]
    stats = compare(summary, curves, np.random.default_rng(0), n_resamples=200)
    paths = write_figures(curves, summary, stats, tmp_path / "figures", envs=["hopper", "ant"])
    names = sorted(p.name for p in paths)
    assert names == ["curves_ant.png", "curves_hopper.png", "final_scores.png", "overview.png"]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
