"""The ablation keys of model usage: the rollout-length rule at every epoch, the default components, and
real (tiny) MBPO runs with each ablation: they log their own columns and resume exactly."""

from __future__ import annotations

import csv
import math

import pytest
import torch

from mbpo.cli import main
from mbpo.config import ConfigError, resolve
from mbpo.model_usage import (
    PENALTY_COLUMNS,
    TERMINATION_COLUMNS,
    never_terminates,
    reward_penalty,
    rollout_schedule,
    rollout_termination,
    usage_columns,
)
from mbpo.presets import PRESETS
from mbpo.schedule import rollout_length
from mbpo.termination import termination_fn
from tests.golden import read_without_timing
from tests.test_resume import Crash, crash_at  # noqa: F401 (a fixture)


def epochs(cfg) -> range:
    """Every epoch a run of ``cfg`` reaches (counted from the end of the warm-up, as the loop does)."""
    return range((cfg.steps - cfg.init_exploration_steps) // cfg.epoch_length + 1)


@pytest.mark.parametrize("env", sorted(PRESETS))
def test_fixed_lengths_hold_at_every_epoch(env: str) -> None:
    default = resolve({"env": env})
    k_max = max(default.rollout_schedule[2:])
    for fixed, expected in ((1, 1), ("max", k_max), (7, 7)):
        cfg = resolve({"env": env, "rollout_fixed_length": fixed})
        assert {rollout_length(rollout_schedule(cfg), e) for e in epochs(cfg)} == {expected}
    ks = [rollout_length(rollout_schedule(default), e) for e in epochs(default)]
    assert max(ks) <= k_max  # Hopper's schedule is still at k = 11 when its 125k budget ends


def test_the_largest_k_follows_a_changed_schedule() -> None:
    cfg = resolve({"env": "hopper", "rollout_schedule": [1, 5, 1, 3], "rollout_fixed_length": "max"})
    assert rollout_schedule(cfg) == (0, 0, 3, 3)


def test_the_defaults_are_mbpo_as_published() -> None:
    cfg = resolve({"env": "hopper"})
    assert rollout_schedule(cfg) == cfg.rollout_schedule == PRESETS["hopper"]["rollout_schedule"]
    assert rollout_termination(cfg) is termination_fn("hopper")
    assert reward_penalty(cfg) is None and usage_columns(cfg) == ()
    none = resolve({"env": "hopper", "rollout_termination": "none"})
    assert rollout_termination(none) is never_terminates
    assert not never_terminates(torch.full((5, 11), 1e6)).any()


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("rollout_penalty", -1, "rollout_penalty (λ) must be a finite number >= 0, got -1.0"),
        ("rollout_penalty", math.nan, "rollout_penalty (λ) must be a finite number >= 0, got nan"),
        ("rollout_penalty", math.inf, "rollout_penalty (λ) must be a finite number >= 0, got inf"),
        ("rollout_termination", "learnt", "unknown rollout_termination 'learnt'; allowed: static, learned, none"),
        ("rollout_uncertainty", "mopo", "unknown rollout_uncertainty 'mopo'; allowed: disagreement, aleatoric"),
        ("rollout_fixed_length", 0, "rollout_fixed_length must be null, a positive integer or 'max', got 0"),
        ("rollout_fixed_length", "longest", "rollout_fixed_length must be null, a positive integer or 'max'"),
    ],
)
def test_bad_ablation_values_are_refused_by_name(key: str, value, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve({"env": "hopper", key: value})


# ---------------------------------------------------------------------------------------------- real runs

TINY_MBPO = [
    "train", "--env", "invertedpendulum", "--algo", "mbpo", "--seed", "3", "--steps", "400", "--device", "cpu",
    "--set", "init_exploration_steps=150", "--set", "eval_every=50", "--set", "eval_episodes=1",
    "--set", "epoch_length=50", "--set", "model_train_freq=50", "--set", "rollout_batch_size=200",
    "--set", "rollout_schedule=[0, 3, 1, 3]", "--set", "num_train_repeat=2",
    "--set", "sac.hidden_sizes=[16, 16]", "--set", "sac.batch_size=32",
    "--set", "model.hidden_size=16", "--set", "model.max_epochs=3",
    "--set", "termination_net.steps_per_fit=30", "--set", "checkpoint_every=70", "--quiet",
]  # fmt: skip
BOTH = ["--set", "rollout_termination=learned", "--set", "rollout_penalty=0.5"]


def rows(path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize(
    ("extra", "columns", "lengths"),
    [
        (["--set", "rollout_fixed_length=max"], (), {"3"}),
        (["--set", "rollout_termination=none"], (), {"1", "2", "3"}),
        (["--set", "rollout_penalty=2", "--set", "rollout_uncertainty=aleatoric"], PENALTY_COLUMNS, {"1", "2", "3"}),
    ],
)
def test_each_ablation_runs_and_logs_its_columns(tmp_path, extra, columns, lengths) -> None:
    main([*TINY_MBPO, "--out", str(tmp_path), *extra])
    logged = [r for r in rows(tmp_path / "metrics.csv") if r["rollout/length"]]
    assert logged and {r["rollout/length"] for r in logged} == lengths
    assert not set(PENALTY_COLUMNS + TERMINATION_COLUMNS) - set(columns) & set(logged[0])  # only its own
    for column in columns:
        assert all(math.isfinite(float(r[column])) for r in logged), column
    if "rollout_termination=none" in extra:
        assert {r["rollout/alive_fraction"] for r in logged} == {"1.0"}  # InvertedPendulum branches never end


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> list[dict[str, str]]:
    out = tmp_path_factory.mktemp("learned") / "run"
    main([*TINY_MBPO, "--out", str(out), *BOTH])
    return read_without_timing(out / "metrics.csv")


def test_learned_termination_and_penalty_log_their_columns(uninterrupted) -> None:
    logged = [r for r in uninterrupted if r["rollout/length"]]
    for column in PENALTY_COLUMNS + TERMINATION_COLUMNS[:-1]:
        assert all(math.isfinite(float(r[column])) for r in logged), column
    assert all(float(r["termination/recall"]) >= 0.5 for r in logged)  # InvertedPendulum's falls are easy


def test_the_classifier_resumes_exactly(tmp_path, crash_at, uninterrupted) -> None:  # noqa: F811
    """A crash after two refits (checkpoint at step 210, refits at 151, 201, 251, ...): the resumed run's
    classifier (weights, input statistics, Adam state) goes on as the uninterrupted one's: equal metrics."""
    out = tmp_path / "run"
    crash_at("env_step@230")
    with pytest.raises(Crash):
        main([*TINY_MBPO, "--out", str(out), *BOTH])
    crash_at(None)
    main([*TINY_MBPO, "--out", str(out), *BOTH])
    assert read_without_timing(out / "metrics.csv") == uninterrupted
