"""Run dirs -> curves.csv / summary.csv: numbers by hand, and every bad run fails naming its file."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import pytest
import yaml

from mbpo.analysis.cli import register
from mbpo.analysis.runs import CURVE_COLUMNS, SUMMARY_COLUMNS, RunError, aggregate

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
