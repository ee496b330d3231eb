"""Learning checks: the algorithms actually learn a real MuJoCo task. Slow (minutes on a CPU): run with
``pytest --runslow -m slow``; ``.ci/run`` runs the MBPO one on every landing. InvertedPendulum-v5 is the fast
task; 1000 is its maximum return.

A run passes on its *final evaluation window*: the mean return of its last few evaluations after the
random warm-up (``eval/warmup == 0``), not its best single evaluation, which a lucky policy can reach once.
"""

import csv
from pathlib import Path

import pytest

from mbpo.cli import main

THRESHOLD = 900.0


def final_window_return(out: Path, window: int) -> float:
    """Mean ``eval_return_mean`` of the last ``window`` evaluations of learned policies (warm-up rows left out)."""
    with open(out / "metrics.csv") as f:
        learned = [float(row["eval_return_mean"]) for row in csv.DictReader(f) if row["eval/warmup"] == "0"]
    assert len(learned) >= window, f"only {len(learned)} evaluations after the warm-up"
    return sum(learned[-window:]) / window


def train(out: Path, *args: str) -> None:
    main(["train", "--env", "invertedpendulum", *args, "--out", str(out), "--quiet", "--device", "cpu"])


@pytest.mark.slow
def test_sac_learns_inverted_pendulum_within_20k_steps(tmp_path: Path) -> None:
    # SAC's machinery, at MBPO's entropy target for this 1-D task (-0.05, `--variant mbpo-entropy`): in our
    # runs it held 1000 from 15k env steps on, while the published -|A| = -1 had reached only 383 (final
    # window) by 20k. Evaluations every 1000 steps; the window is the last 3 (18k-20k env steps).
    sets = ["--variant", "mbpo-entropy", "--set", "init_exploration_steps=1000", "--set", "eval_every=1000"]
    train(tmp_path, "--algo", "sac", "--steps", "20000", *sets)
    assert final_window_return(tmp_path, window=3) >= THRESHOLD


# MBPO's check runs on every landing (.ci/run), so it is made cheaper in one way only: SAC's two hidden layers
# are 64 units wide instead of 256, which cuts its CPU time from about 10 to 4.5 minutes at one thread.
# Everything that makes it MBPO is the paper's InvertedPendulum preset: G = 10 SAC updates per env step,
# 100k model branches per refit every 250 steps, k = 1, real ratio 0.05, the 7-member ensemble with 5 elites,
# 500 random warm-up steps, target entropy -0.05. (At the full width it learns the same way: in our run both
# reached 1000 at env step 3250 and held it.) Evaluations every 250 steps; the window is the last 4
# evaluations (4250-5000 env steps).
MBPO_CHECK_SETS = ("--set", "sac.hidden_sizes=[64, 64]")


@pytest.mark.slow
def test_mbpo_learns_inverted_pendulum_within_5k_steps(tmp_path: Path) -> None:
    train(tmp_path, "--algo", "mbpo", "--steps", "5000", *MBPO_CHECK_SETS)
    assert final_window_return(tmp_path, window=4) >= THRESHOLD
