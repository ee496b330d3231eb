"""Run dirs -> curves.csv / summary.csv / runs.csv: numbers by hand, every bad run fails naming its file, and
every float round-trips through the CSVs."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mbpo.analysis.cli import read_csv, register, write_csv
from mbpo.analysis.runinfo import RUN_COLUMNS, read_provenance, run_table
from mbpo.analysis.runs import CURVE_COLUMNS, SUMMARY_COLUMNS, RunError, aggregate
from mbpo.analysis.stats import compare

HEADER = "env_step,eval_return_mean,eval_return_std,eval_episodes,wall_time_s,train/q_loss,model/holdout_mse"


def write_run(
    root: Path,
    env: str = "hopper",
    algo: str = "mbpo",
    variant: str = "default",
    seed: int = 0,
    returns: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0),
    every: int = 500,
    config: dict | None = None,
) -> Path:
    """A run dir as `mbpo train` leaves it (CRLF rows, as the csv module writes); returns its metrics.csv."""
    run_dir = root / "runs" / env / algo / variant / f"seed{seed}"
    run_dir.mkdir(parents=True)
    steps = [every * (i + 1) for i in range(len(returns))]
    cfg = {"env": env, "algo": algo, "variant": variant, "seed": seed, "steps": steps[-1], "eval_every": every}
    (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg | (config or {})))
    rows = [f"{s},{r},0.5,1,{s / 100},,\r\n" for s, r in zip(steps, returns, strict=True)]
    (run_dir / "metrics.csv").write_text(HEADER + "\r\n" + "".join(rows), newline="")
    return run_dir / "metrics.csv"


def test_final_return_is_the_mean_of_the_last_window(tmp_path: Path) -> None:
    path = write_run(tmp_path, returns=(1.0, 2.0, 3.0, 10.0, 20.0), every=1000)
    curves, summary = aggregate([path], final_window=2)
    assert list(summary.columns) == SUMMARY_COLUMNS
    row = summary.iloc[0]
    assert row["final_return"] == pytest.approx((10.0 + 20.0) / 2)
    assert (row["steps"], row["target_steps"], row["n_evals"], row["window_start_step"]) == (5000, 5000, 5, 4000)
    assert list(curves.columns) == CURVE_COLUMNS
    assert curves["return"].tolist() == [1.0, 2.0, 3.0, 10.0, 20.0]
    assert curves["env_step"].tolist() == [1000, 2000, 3000, 4000, 5000]


def test_every_run_is_kept_and_sorted(tmp_path: Path) -> None:
    paths = [
        write_run(tmp_path, env=env, algo=algo, seed=seed, returns=(seed, seed + 1.0))
        for env in ("walker2d", "hopper")
        for algo in ("sac", "mbpo")
        for seed in (1, 0)
    ]
    curves, summary = aggregate(paths, final_window=1)
    assert len(summary) == 8 and len(curves) == 16
    keys = list(summary[["env", "algo", "seed"]].itertuples(index=False, name=None))
    assert keys == sorted(keys)
    assert summary.set_index(["env", "algo", "seed"]).loc[("walker2d", "sac", 1), "final_return"] == 2.0


def _replace_metrics(text: str):
    def edit(path: Path) -> None:
        path.write_text(text, newline="")

    return edit


def _edit_config(**changes):
    def edit(path: Path) -> None:
        cfg_path = path.parent / "config.yaml"
        cfg_path.write_text(yaml.safe_dump(yaml.safe_load(cfg_path.read_text()) | changes))

    return edit


BAD_RUNS = {
    "missing": (lambda p: p.unlink(), "missing"),
    "empty": (_replace_metrics(""), "empty"),
    "header only": (_replace_metrics(HEADER + "\r\n"), "header only"),
    "truncated": (_replace_metrics(HEADER + "\r\n500,1.0,0.5,1,5,,\r\n1000,2."), "truncated"),
    "ragged row": (_replace_metrics(HEADER + "\r\n500,1.0,0.5,1\r\n"), "corrupt"),
    "not a number": (_replace_metrics(HEADER + "\r\n500,abc,0.5,1,5,,\r\n"), "not a finite number"),
    "empty return": (_replace_metrics(HEADER + "\r\n500,,0.5,1,5,,\r\n"), "not a finite number"),
    "no return column": (_replace_metrics("env_step,wall_time_s\r\n500,1\r\n"), "eval_return_mean"),
    "steps repeat": (_replace_metrics(HEADER + "\r\n500,1,0,1,5,,\r\n500,1,0,1,5,,\r\n"), "does not increase"),
    "not UTF-8": (lambda p: p.write_bytes(b"\xff\xfe\x00garbage\n"), "corrupt"),
    "short of budget": (_edit_config(steps=5000), "incomplete"),
    "wrong seed in config": (_edit_config(seed=7), "seed is 7"),
    "wrong env in config": (_edit_config(env="ant"), "env is 'ant'"),
    "config missing": (lambda p: (p.parent / "config.yaml").unlink(), "config.yaml: missing"),
    "config not a mapping": (lambda p: (p.parent / "config.yaml").write_text("- 1\n"), "mapping"),
}


@pytest.mark.parametrize("case", BAD_RUNS, ids=list(BAD_RUNS))
def test_a_bad_run_fails_naming_the_file(tmp_path: Path, case: str) -> None:
    good = write_run(tmp_path, seed=0)
    bad = write_run(tmp_path, seed=1)
    edit, problem = BAD_RUNS[case]
    edit(bad)
    with pytest.raises(RunError) as err:
        aggregate([good, bad], final_window=2)
    assert str(bad.parent) in str(err.value)
    assert problem in str(err.value)


def test_too_few_evaluations_for_the_window_fail(tmp_path: Path) -> None:
    path = write_run(tmp_path, returns=(1.0, 2.0))
    with pytest.raises(RunError, match="fewer than final_window=3") as err:
        aggregate([path], final_window=3)
    assert str(path) in str(err.value)


def test_the_same_run_listed_twice_fails(tmp_path: Path) -> None:
    path = write_run(tmp_path)
    with pytest.raises(RunError, match="same run"):
        aggregate([path, Path(str(path))], final_window=1)


def test_a_path_outside_the_layout_fails(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    path.write_text(HEADER + "\n")
    with pytest.raises(RunError, match="not a run directory"):
        aggregate([path], final_window=1)


def _mbpo(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="mbpo")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    args.handler(args)


def test_cli_writes_both_tables(tmp_path: Path) -> None:
    paths = [str(write_run(tmp_path, seed=s, returns=(s, 2.0 * s))) for s in (0, 1)]
    curves, summary = tmp_path / "out" / "curves.csv", tmp_path / "out" / "summary.csv"
    _mbpo(["aggregate", "--final-window", "1", "--curves", str(curves), "--summary", str(summary), *paths])
    assert pd.read_csv(summary)["final_return"].tolist() == [0.0, 2.0]
    assert len(pd.read_csv(curves)) == 4


def test_cli_fails_with_the_message_and_writes_nothing(tmp_path: Path) -> None:
    path = write_run(tmp_path)
    path.write_text(HEADER + "\n")
    out = tmp_path / "out"
    argv = ["aggregate", "--final-window", "1", "--curves", str(out / "c.csv"), "--summary", str(out / "s.csv")]
    with pytest.raises(SystemExit) as exit_:
        _mbpo([*argv, str(path)])
    assert "header only" in str(exit_.value.code) and str(path) in str(exit_.value.code)
    assert not out.exists()


# ------------------------------------------------------------------------------------------------
# Warm-up rows, wall-clock, provenance: runs.csv
# ------------------------------------------------------------------------------------------------

TIMED = (
    "env_step,eval_return_mean,eval/warmup,wall_time_s,time/env_s,time/policy_s,time/eval_s,time/model_s,time/rollout_s"
)


def write_timed_run(root: Path, seed: int = 0, provenance: str | None = None) -> Path:
    """A run whose first two evaluations fall in the random warm-up; each row times the phases since the last."""
    path = write_run(root, seed=seed, returns=(1.0,), every=1000)
    rows = [
        "1000,900.0,1,0.5,0.4,,0.1,,",  # warm-up: the untrained policy, evaluated
        "2000,950.0,1,1.0,0.4,,0.1,,",
        "3000,10.0,0,101.0,1.0,90.0,0.1,8.0,0.5",
        "4000,20.0,0,201.0,1.0,90.0,0.1,8.0,0.5",
        "5000,30.0,0,301.5,1.0,90.0,0.1,8.0,0.5",
    ]
    path.write_text(TIMED + "\n" + "\n".join(rows) + "\n")
    cfg_path = path.parent / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text()) | {"steps": 5000, "init_exploration_steps": 2000, "eval_episodes": 5}
    cfg_path.write_text(yaml.safe_dump(cfg))
    if provenance is not None:
        (path.parent / "provenance.yaml").write_text(provenance)
    return path


PROVENANCE = """\
command: [mbpo, train, --env, hopper, --algo, mbpo, --seed, '0', --out, runs/x]
started: '2026-11-26T10:00:00+00:00'
finished: '2026-11-26T10:05:01+00:00'
git: {commit: 0123456789abcdef0123456789abcdef01234567, dirty: false}
packages: {python: 3.11.7, torch: 2.13.0, gymnasium: 1.2.0, mujoco: 3.3.0, numpy: 2.4.6, mbpo-bench: 0.1.0}
machine: {hostname: node7, platform: Linux-6.1, cpu: AMD EPYC 7B13, cores: 2, threads: 1, gpu: null}
resumed: [{at_env_step: 3000, time: '2026-11-26T10:03:00+00:00'}]
"""


def test_warmup_evaluations_stay_out_of_the_final_window(tmp_path: Path) -> None:
    curves, summary = aggregate([write_timed_run(tmp_path)], final_window=3)
    row = summary.iloc[0]
    assert row["final_return"] == pytest.approx(20.0)  # 10, 20, 30: not the warm-up's 900 and 950
    assert (row["n_evals"], row["window_start_step"]) == (3, 3000)
    assert curves["warmup"].tolist() == [1, 1, 0, 0, 0]
    assert curves["wall_time_s"].tolist() == [0.5, 1.0, 101.0, 201.0, 301.5]
    with pytest.raises(RunError, match="3 evaluation\\(s\\) after the warm-up, fewer than final_window=4"):
        aggregate([write_timed_run(tmp_path / "more")], final_window=4)


def test_runs_without_the_warmup_column_count_every_evaluation(tmp_path: Path) -> None:
    curves, summary = aggregate([write_run(tmp_path)], final_window=4)
    assert summary.iloc[0]["n_evals"] == 4 and curves["warmup"].tolist() == [0, 0, 0, 0]


def test_run_table_splits_the_wall_clock_and_reads_provenance(tmp_path: Path) -> None:
    runs = run_table([write_timed_run(tmp_path, seed=0, provenance=PROVENANCE), write_timed_run(tmp_path, seed=1)])
    assert list(runs.columns) == RUN_COLUMNS
    known, unknown = runs.iloc[0], runs.iloc[1]
    assert known["wall_time_s"] == 301.5
    split = {phase: known[f"time_{phase}_s"] for phase in ("policy", "model", "rollout", "env", "eval", "other")}
    assert split == pytest.approx(
        {"policy": 270.0, "model": 24.0, "rollout": 1.5, "env": 3.8, "eval": 0.5, "other": 1.7}
    )
    assert (known["gym_id"], known["env_dynamics"], known["eval_episodes"], known["warmup_evals"]) == (
        "Hopper-v5",
        "v5",
        5,
        2,
    )
    assert known["machine"] == "AMD EPYC 7B13, 2 cores, 1 thread, no GPU"
    assert known["commit"] == "0123456789abcdef0123456789abcdef01234567" and known["dirty"] is False
    assert known["resumes"] == 1 and known["command"].startswith("mbpo train --env hopper")
    # No provenance.yaml: an older run, provenance unknown, not an error.
    assert (unknown["machine"], unknown["commit"], unknown["command"], unknown["resumes"]) == ("unknown", "", "", 0)


def test_run_table_reads_env_dynamics_where_the_config_has_it(tmp_path: Path) -> None:
    path = write_timed_run(tmp_path)
    cfg = yaml.safe_load((path.parent / "config.yaml").read_text())
    (path.parent / "config.yaml").write_text(yaml.safe_dump(cfg | {"env_dynamics": "paper", "variant": "default"}))
    assert run_table([path]).iloc[0]["env_dynamics"] == "paper"


def test_a_corrupt_provenance_file_fails_naming_it(tmp_path: Path) -> None:
    path = write_timed_run(tmp_path, provenance="- just\n- a list\n")
    with pytest.raises(RunError, match=r"provenance\.yaml: expected a mapping"):
        run_table([path])
    assert read_provenance(tmp_path / "nowhere") is None


def test_csvs_round_trip_at_full_precision(tmp_path: Path) -> None:
    """Every float written by the analysis commands reads back bit for bit (no %.6g rounding)."""
    returns = (11_000.123456789012, 1 / 3, -2.5e-17, 123456789.98765433)
    paths = [str(write_run(tmp_path, seed=s, returns=tuple(r * (s + 1) for r in returns))) for s in (0, 1)]
    out = tmp_path / "out"
    argv = ["--final-window", "2", "--curves", str(out / "c.csv"), "--summary", str(out / "s.csv")]
    _mbpo(["aggregate", *argv, "--runs", str(out / "r.csv"), *paths])
    curves, summary = aggregate(paths, final_window=2)
    pd.testing.assert_frame_equal(read_csv(out / "c.csv"), curves, check_exact=True)
    pd.testing.assert_frame_equal(read_csv(out / "s.csv"), summary, check_exact=True)
    assert read_csv(out / "c.csv")["return"].iloc[0] == 11_000.123456789012

    stats = compare(summary, curves, np.random.default_rng(0), n_resamples=50)
    write_csv(stats, out / "stats.csv")
    pd.testing.assert_frame_equal(read_csv(out / "stats.csv"), stats, check_exact=True)
