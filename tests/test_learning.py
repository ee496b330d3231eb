"""Learning checks: the algorithms actually learn a real MuJoCo task. Slow (minutes on a CPU): run with
``pytest --runslow -m slow``. InvertedPendulum-v5 is the fast task; 1000 is its maximum return."""

import csv

import pytest

from mbpo.cli import main


def best_eval_return(out) -> float:
    with open(out / "metrics.csv") as f:
        return max(float(row["eval_return_mean"]) for row in csv.DictReader(f))


@pytest.mark.slow
def test_sac_learns_inverted_pendulum_within_20k_steps(tmp_path):
    sets = ["init_exploration_steps=1000", "eval_every=1000"]
    main(
        ["train", "--env", "invertedpendulum", "--algo", "sac", "--steps", "20000", "--out", str(tmp_path)]
        + [a for s in sets for a in ("--set", s)]
        + ["--quiet"]
    )
    assert best_eval_return(tmp_path) >= 900


@pytest.mark.slow
def test_mbpo_learns_inverted_pendulum_within_5k_steps(tmp_path):
    main(["train", "--env", "invertedpendulum", "--algo", "mbpo", "--steps", "5000", "--out", str(tmp_path), "--quiet"])
    assert best_eval_return(tmp_path) >= 900
